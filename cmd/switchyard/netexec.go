package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchyard-net/switchyard/internal/netexec"
)

// newNetexecCmd is `switchyard netexec`, the test server pods run.
func newNetexecCmd() *cobra.Command {
	var (
		httpPort, udpPort int
		cfg               netexec.Config
		dial              dialFlags
	)
	cmd := &cobra.Command{
		Use:   "netexec",
		Short: "Run the test server pods use: HTTP and UDP echo of hostname and client address",
		Long: `netexec answers HTTP on --http-port: /hostname, /clientip (the peer's ip:port),
/echo?msg=X, /healthz, /shutdown (exits), /bytes?size=N, and a JSON echo of the
request on any other path (or --response-size bytes of 'x' when that is set).
On --udp-port a datagram "hostname", "clientip" or "echo X" gets the same answers.

With --dial HOST:PORT it is a load client instead: it keeps --hold keep-alive
HTTP connections to the target, asking --path on each every --interval, opens
--rate new connections a second (one request each) for --duration, and prints
a JSON summary of successes and failures (also to --report). It exits 0 when
the load ran, whatever the target did.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dial.cfg.Target != "" {
				return dial.run(cmd)
			}
			var err error
			if cfg.HTTPAddr, err = portAddr("--http-port", httpPort); err != nil {
				return err
			}
			if cfg.UDPAddr, err = portAddr("--udp-port", udpPort); err != nil {
				return err
			}
			s, err := netexec.Listen(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "netexec: http %v, udp %v\n", s.HTTPAddr(), s.UDPAddr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return s.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.IntVar(&httpPort, "http-port", 8080, "TCP port for HTTP (0 = off)")
	f.IntVar(&udpPort, "udp-port", 8081, "UDP port for the UDP echo (0 = off)")
	f.StringVar(&cfg.Hostname, "hostname-override", "", "hostname to answer (default os.Hostname())")
	f.DurationVar(&cfg.ShutdownDelay, "delay-shutdown", 0,
		"on SIGTERM keep serving this long, every response with \"Connection: close\", then shut down (as agnhost's --delay-shutdown, here a duration)")
	f.IntVar(&cfg.ResponseSize, "response-size", 0,
		"fixed-size mode: answer this many bytes on every path but the named ones; also the default of /bytes (0 = JSON echo)")
	dial.addFlags(f)
	return cmd
}

// dialFlags are the load-client flags of `switchyard netexec --dial`.
type dialFlags struct {
	cfg               netexec.DialConfig
	report, readyFile string
}

func (d *dialFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&d.cfg.Target, "dial", "", "load-client mode: HOST:PORT of a netexec HTTP server or Service to load")
	f.IntVar(&d.cfg.Hold, "hold", 0, "with --dial: keep-alive connections to hold open")
	f.Float64Var(&d.cfg.Rate, "rate", 0, "with --dial: new connections per second (one request each)")
	f.DurationVar(&d.cfg.Duration, "duration", 10*time.Second, "with --dial: how long the load runs once the held connections are up")
	f.DurationVar(&d.cfg.Interval, "interval", time.Second, "with --dial: period of the requests on each held connection")
	f.DurationVar(&d.cfg.Timeout, "timeout", 5*time.Second, "with --dial: limit of each connect and each request")
	f.StringVar(&d.cfg.Path, "path", "/hostname", "with --dial: URL path to ask")
	f.StringVar(&d.cfg.Host, "host", "", "with --dial: Host header to send (default the --dial address), e.g. to pick an Ingress rule")
	f.StringVar(&d.report, "report", "", "with --dial: also write the JSON summary to this file")
	f.StringVar(&d.readyFile, "ready-file", "", "with --dial: write this file when the held connections are up")
}

// run is the load client: it runs the load until done or SIGTERM and
// prints the report.
func (d *dialFlags) run(cmd *cobra.Command) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr := cmd.ErrOrStderr()
	var readyErr error
	d.cfg.OnHeld = func(held int) {
		fmt.Fprintf(stderr, "netexec: dial %s: %d connections held, load for %v\n", d.cfg.Target, held, d.cfg.Duration)
		if d.readyFile != "" {
			readyErr = netexec.WriteJSON(d.readyFile, map[string]int{"held": held})
		}
	}
	fmt.Fprintf(stderr, "netexec: dial %s: opening %d connections\n", d.cfg.Target, d.cfg.Hold)
	r, err := netexec.Dial(ctx, d.cfg)
	if r == nil {
		return err
	}
	if d.report != "" {
		if werr := netexec.WriteJSON(d.report, r); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	b, jerr := json.MarshalIndent(r, "", "  ")
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
	return errors.Join(err, readyErr)
}

// portAddr turns a port flag into a listen address; 0 means off ("").
func portAddr(flag string, port int) (string, error) {
	switch {
	case port == 0:
		return "", nil
	case port < 0 || port > 65535:
		return "", fmt.Errorf("%s %d: out of range 0..65535", flag, port)
	}
	return net.JoinHostPort("", strconv.Itoa(port)), nil
}
