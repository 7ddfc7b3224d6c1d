package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/netexec"
)

// newNetexecCmd is `switchyard netexec`, the test server pods run.
func newNetexecCmd() *cobra.Command {
	var (
		httpPort, udpPort int
		cfg               netexec.Config
	)
	cmd := &cobra.Command{
		Use:   "netexec",
		Short: "Run the test server pods use: HTTP and UDP echo of hostname and client address",
		Long: `netexec answers HTTP on --http-port: /hostname, /clientip (the peer's ip:port),
/echo?msg=X, /healthz, /shutdown (exits), /bytes?size=N, and a JSON echo of the
request on any other path (or --response-size bytes of 'x' when that is set).
On --udp-port a datagram "hostname", "clientip" or "echo X" gets the same answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	f.IntVar(&cfg.ResponseSize, "response-size", 0,
		"fixed-size mode: answer this many bytes on every path but the named ones; also the default of /bytes (0 = JSON echo)")
	return cmd
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
