// Command balancer is ricochet's redirecting load balancer.
//
// Usage:
//
//	balancer [-config FILE] [-listen ADDR] [-admin ADDR] [-policy FILE] [host:port ...]
//	balancer check [-config FILE] [-policy FILE]
//	balancer simulate -policy FILE -latency name=SECONDS,... [-n N] [-down NAME,...] [-client-ips N]
//
// It probes every backend, asks the Lua policy for weights and answers each
// request with a redirect to a backend. The first line on stdout is
// "listening on http://HOST:PORT", the second "admin on http://HOST:PORT"
// when the admin listener is enabled. Exit status: 0 after a clean shutdown,
// 1 on a failure to start (or check failing), 2 on bad usage or no backends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"ricochet/internal/addr"
	"ricochet/internal/admin"
	"ricochet/internal/config"
	"ricochet/internal/engine"
	"ricochet/internal/httpd"
	"ricochet/internal/listener"
	"ricochet/internal/policy"
	"ricochet/internal/sim"
	"ricochet/internal/watch"
)

// shutdownGrace bounds how long in-flight requests may run after a signal.
const shutdownGrace = 5 * time.Second

func main() { os.Exit(main1(os.Args[1:], os.Stdout, os.Stderr)) }

func main1(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return check(args[1:], stdout, stderr)
		case "simulate":
			return simulate(args[1:], stdout, stderr)
		}
	}
	return run(args, stdout, stderr)
}

// configFlag registers -config; its default is balancer.toml when present.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "`file` to read (default balancer.toml when it exists)")
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if _, err := os.Stat("balancer.toml"); err == nil {
		return "balancer.toml"
	}
	return ""
}

// memoryLimit is the balancer's soft heap limit (unless GOMEMLIMIT is set):
// it normally needs tens of MiB, and a policy allocating wildly should meet
// an eager garbage collector rather than grow the process.
const memoryLimit = 256 << 20

func run(args []string, stdout, stderr io.Writer) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	fs := flag.NewFlagSet("balancer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: balancer [-config FILE] [-listen ADDR] [-admin ADDR] [-policy FILE] [host:port ...]")
		fmt.Fprintln(stderr, "       balancer check [-config FILE] [-policy FILE]")
		fmt.Fprintln(stderr, "       balancer simulate -policy FILE -latency name=SECONDS,... [-n N] [-down NAME,...] [-client-ips N]")
		fs.PrintDefaults()
	}
	cfgFlag := configFlag(fs)
	listen := fs.String("listen", "", "redirect listener `address` (overrides the config's listen)")
	adminAddr := fs.String("admin", "", "admin listener `address`; \"\" with -admin= disables it")
	pol := fs.String("policy", "", "Lua policy `file` (overrides the config's policy)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opt := engine.Options{
		ConfigPath: configPath(*cfgFlag),
		Policy:     *pol,
		Listen:     *listen,
		Backends:   fs.Args(),
		Log:        log.New(stderr, "balancer: ", log.LstdFlags),
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "admin" {
			opt.Admin, opt.AdminSet = *adminAddr, true
		}
	})
	e, err := engine.New(opt)
	if errors.Is(err, engine.ErrNoBackends) {
		fmt.Fprintf(stderr, "balancer: %v\n", err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "balancer: %v\n", err)
		return 1
	}
	cfg := e.Config()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "balancer: %v\n", err)
		return 1
	}
	if err := e.SetListenAddr(ln.Addr()); err != nil {
		fmt.Fprintf(stderr, "balancer: %v\n", err)
		return 1
	}
	var adminLn net.Listener
	if cfg.Admin != "" {
		if adminLn, err = net.Listen("tcp", cfg.Admin); err != nil {
			fmt.Fprintf(stderr, "balancer: admin: %v\n", err)
			return 1
		}
	}

	var w *watch.Watcher
	watchFiles := func() {
		if err := w.Set(opt.ConfigPath, e.Config().Policy); err != nil {
			opt.Log.Printf("watch: %v", err)
		}
	}
	w, err = watch.New(25*time.Millisecond, func() {
		e.Reload("file change")
		watchFiles() // the policy path may have changed
	}, func(err error) { opt.Log.Printf("watch: %v", err) })
	if err != nil {
		opt.Log.Printf("hot reload disabled: %v", err)
	} else {
		defer w.Close()
		watchFiles()
		// Cover edits made between loading the files and watching them: a
		// no-op when nothing changed.
		e.Reload("start-up check")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first round decides who is healthy before any client is answered.
	e.Round(ctx)

	srv := httpd.New(e.Front().Serve, e.Pages())
	fmt.Fprintf(stdout, "listening on %s\n", addr.URL(ln.Addr()))
	var adminSrv *http.Server
	if adminLn != nil {
		adminSrv = &http.Server{Handler: admin.Handler(e, e.Metrics.Registry), ReadHeaderTimeout: 10 * time.Second}
		go adminSrv.Serve(adminLn)
		fmt.Fprintf(stdout, "admin on %s\n", addr.URL(adminLn.Addr()))
	}

	go e.Run(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(listener.Yielding(ln)) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	for {
		select {
		case err := <-done:
			fmt.Fprintf(stderr, "balancer: %v\n", err)
			return 1
		case s := <-sig:
			if s == syscall.SIGHUP {
				e.Reload("SIGHUP")
				continue
			}
			opt.Log.Printf("%v: shutting down", s)
			cancel()
			sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer scancel()
			if err := srv.ShutdownWithContext(sctx); err != nil {
				opt.Log.Printf("shutdown: %v", err)
			}
			if adminSrv != nil {
				adminSrv.Shutdown(sctx)
			}
			return 0
		}
	}
}

// check validates the config and the policy, running weigh on sample
// results, and exits 0 or prints the error and exits 1.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("balancer check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := configFlag(fs)
	polFlag := fs.String("policy", "", "Lua policy `file` (overrides the config's policy)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config.Default()
	path := configPath(*cfgFlag)
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			fmt.Fprintf(stderr, "balancer check: %v\n", err)
			return 1
		}
	}
	if *polFlag != "" {
		cfg.Policy = *polFlag
	}
	p, err := policy.Load(cfg.Policy, policy.Options{Log: func(m string) { fmt.Fprintln(stderr, m) }})
	if err != nil {
		fmt.Fprintf(stderr, "balancer check: policy %s: %v\n", cfg.Policy, err)
		return 1
	}
	names := []string{"a", "b", "c"}
	for i, b := range cfg.Backends {
		if i == 0 {
			names = nil
		}
		names = append(names, b.Name)
	}
	lat := map[string]float64{}
	for i, n := range names {
		lat[n] = 0.010 * float64(i+1)
	}
	// Sample rounds: all healthy, then the fastest down.
	for _, down := range []map[string]bool{nil, {names[0]: true}} {
		w, err := p.Weigh(sim.Backends(names, lat, down))
		if err != nil {
			fmt.Fprintf(stderr, "balancer check: policy %s: %v\n", cfg.Policy, err)
			return 1
		}
		if down == nil {
			fmt.Fprintf(stdout, "ok: policy %s, weights on sample latencies %v: %v\n", cfg.Policy, lat, w)
		}
	}
	if path != "" {
		fmt.Fprintf(stdout, "ok: config %s, %d backends\n", path, len(cfg.Backends))
	}
	return 0
}

// simulate prints each backend's weight and share of N picks.
func simulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("balancer simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	polFlag := fs.String("policy", "", "Lua policy `file` (required)")
	latFlag := fs.String("latency", "", "backend latencies, `name=SECONDS,...` (required)")
	n := fs.Int("n", 10000, "number of picks")
	downFlag := fs.String("down", "", "`names` of backends to treat as down, comma-separated")
	clientIPs := fs.Int("client-ips", 100, "distinct client addresses for a policy's pick")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *polFlag == "" || *latFlag == "" || *n < 0 {
		fmt.Fprintln(stderr, "usage: balancer simulate -policy FILE -latency name=SECONDS,... [-n N] [-down NAME,...] [-client-ips N]")
		return 2
	}
	names, lat, err := sim.ParseLatencies(*latFlag)
	if err != nil {
		fmt.Fprintf(stderr, "balancer simulate: %v\n", err)
		return 2
	}
	down := map[string]bool{}
	for _, d := range strings.Split(*downFlag, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if _, ok := lat[d]; !ok {
			fmt.Fprintf(stderr, "balancer simulate: -down %q is not in -latency\n", d)
			return 2
		}
		down[d] = true
	}
	p, err := policy.Load(*polFlag, policy.Options{Log: func(m string) { fmt.Fprintln(stderr, m) }})
	if err != nil {
		fmt.Fprintf(stderr, "balancer simulate: %v\n", err)
		return 1
	}
	rows, err := sim.Run(p, sim.Backends(names, lat, down), *n, sim.ClientIPs(*clientIPs))
	if err != nil {
		fmt.Fprintf(stderr, "balancer simulate: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, sim.Format(rows, *n))
	return 0
}
