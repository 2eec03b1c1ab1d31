// Command server serves a directory over HTTP: a ricochet backend.
//
// Usage:
//
//	server [-addr ADDR] [-root DIR] [-errors DIR] [-rate SIZE] [-delay DUR] [-probe-size SIZE] [-log-requests]
//
// The first line on stdout is "listening on http://HOST:PORT" once the socket
// accepts. SIGINT or SIGTERM stop accepting, finish in-flight responses
// (at most for the shutdown grace period) and exit 0. Exit status 2 means bad
// usage, 1 a failure to start.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ricochet/internal/addr"
	"ricochet/internal/httpd"
	"ricochet/internal/pages"
	"ricochet/internal/size"
	"ricochet/internal/static"
)

// shutdownGrace bounds how long in-flight responses may run after a signal.
const shutdownGrace = 10 * time.Second

func main() { os.Exit(main1(os.Args[1:], os.Stdout, os.Stderr)) }

func main1(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("addr", ":0", "listen `address` (host:port); port 0 picks a free one")
	root := fs.String("root", ".", "`directory` to serve")
	errorsDir := fs.String("errors", "", "`directory` whose 404.html, 501.html, 505.html override the built-in pages")
	rate := size.Value(0)
	fs.Var(&rate, "rate", "cap each response to `SIZE` bytes per second (e.g. 512KiB, 2MiB); 0 = no cap")
	delay := fs.Duration("delay", 0, "wait `DUR` before each response")
	probeSize := size.Value(64 << 10)
	fs.Var(&probeSize, "probe-size", "`SIZE` of the built-in /performanceTest.html")
	logRequests := fs.Bool("log-requests", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *delay < 0 {
		fmt.Fprintln(stderr, "server: -delay must not be negative")
		return 2
	}

	ps, err := pages.Load(*errorsDir, 400, 404, 414, 416, 431, 501, 505)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	opt := static.Options{Root: *root, Pages: ps, Rate: int64(rate), Delay: *delay, ProbeSize: int64(probeSize)}
	if *logRequests {
		opt.Log = stderr
	}
	h, err := static.New(opt)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	defer h.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	srv := httpd.New(h.Serve, ps)
	fmt.Fprintf(stdout, "listening on %s\n", addr.URL(ln.Addr()))

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	case s := <-sig:
		fmt.Fprintf(stderr, "server: %v: shutting down\n", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.ShutdownWithContext(ctx); err != nil {
		fmt.Fprintf(stderr, "server: shutdown: %v\n", err)
	}
	return 0
}
