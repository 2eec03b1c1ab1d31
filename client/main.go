// Command client downloads a file through the balancer, following its
// redirect, as dependably as curl -o or wget.
//
// Usage:
//
//	client [-o PATH] [-q] [-v] [-max-redirects N] [-timeout DUR] [-c] URL
//
// Exit status: 0 saved; 2 bad usage or URL; 3 HTTP error status (the status
// line and body go to stderr); 4 network failure (refused, timeout, reset,
// short body); 5 local file error; 6 too many redirects or a redirect loop;
// 130 interrupted (the .part file stays for -c).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"ricochet/internal/download"
)

func main() { os.Exit(main1(os.Args[1:], os.Stdout, os.Stderr)) }

func main1(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: client [-o PATH] [-q] [-v] [-max-redirects N] [-timeout DUR] [-c] URL")
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "save to `PATH` (\"-\" for stdout); default: the URL's file name in the current directory")
	quiet := fs.Bool("q", false, "quiet: no progress bar, no notes")
	verbose := fs.Bool("v", false, "print request and response headers to stderr")
	maxRedirects := fs.Int("max-redirects", 10, "redirects to follow at most")
	timeout := fs.Duration("timeout", 0, "limit for the whole transfer (0: none)")
	resume := fs.Bool("c", false, "continue a partial download (NAME.part) with a Range request")
	if err := fs.Parse(args); err != nil {
		return download.ExitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return download.ExitUsage
	}
	if *maxRedirects < 0 || *timeout < 0 {
		fmt.Fprintln(stderr, "client: -max-redirects and -timeout must not be negative")
		return download.ExitUsage
	}
	opt := download.Options{
		Output: *out, Quiet: *quiet, Verbose: *verbose, MaxRedirects: *maxRedirects,
		Timeout: *timeout, Resume: *resume, Stdout: stdout, Stderr: stderr,
	}
	if f, ok := stderr.(*os.File); ok && !*quiet && term.IsTerminal(int(f.Fd())) {
		opt.Progress = func(r io.Reader, size, done int64) io.ReadCloser { return newBar(f, r, size, done) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := download.Run(ctx, fs.Arg(0), opt)
	if err != nil {
		var de *download.Error
		code := download.ExitNetwork
		if errors.As(err, &de) {
			code = de.Code
		}
		fmt.Fprintf(stderr, "client: %v\n", err)
		if code == download.ExitInterrupted {
			fmt.Fprintln(stderr, "client: partial download kept; run again with -c to resume")
		}
		return code
	}
	if !*quiet && res.Path != "-" {
		el := time.Since(start)
		fmt.Fprintf(stderr, "saved %s (%d bytes in %v, %s/s)\n", res.Path, res.Bytes, el.Round(time.Millisecond),
			humanBytes(float64(res.Bytes)/el.Seconds()))
	}
	return download.ExitOK
}

// bar shows bytes, rate and ETA while the body is read.
type bar struct {
	io.Reader
	pb *progressbar.ProgressBar
}

func newBar(w io.Writer, r io.Reader, size, done int64) *bar {
	pb := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	if done > 0 {
		pb.Set64(done)
	}
	pr := progressbar.NewReader(r, pb)
	return &bar{Reader: &pr, pb: pb}
}

func (b *bar) Close() error { return b.pb.Finish() }

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
