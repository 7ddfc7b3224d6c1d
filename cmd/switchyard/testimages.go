package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/netexec"
)

// The programs that well-known test images map to (package
// dataplane/runner/images): `switchyard echo-basic` and `switchyard
// agnhost SUBCOMMAND`, with the images' own flags and env vars.

func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func newEchoBasicCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "echo-basic",
		Short: "Run the Gateway API conformance echo server (image registry.k8s.io/gateway-api/echo-basic)",
		Long: `echo-basic answers every request with a JSON echo of it (path, host, method,
proto, headers, httpPort, namespace, ingress, service, pod, and tls over HTTPS),
as the Gateway API conformance backends do. It is configured by environment
variables: HTTP_PORT (3000), H2C_PORT (3001), HTTPS_PORT (8443) with
TLS_SERVER_CERT and TLS_SERVER_PRIVKEY (files; HTTPS is off without them) and
TLS_CLIENT_CACERTS, and NAMESPACE, INGRESS_NAME, SERVICE_NAME, POD_NAME.
Also: /health, /status/NNN, /retry/?uuid=U&succeedAfter=N, /ws (WebSocket echo),
?delay=DURATION, and the X-Echo-Set-Header request header.
With GRPC_ECHO_SERVER set it serves the suite's gRPC GrpcEcho service instead
(HTTP_PORT h2c, HTTPS_PORT with TLS_SERVER_CERT/TLS_SERVER_PRIV_KEY); with
TCP_ECHO_SERVER its TCP echo (TCP_PORT, TLS_PORT).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("UDP_ECHO_SERVER") != "" {
				return fmt.Errorf("echo-basic: UDP_ECHO_SERVER is set: that mode is not built into switchyard (HTTP, gRPC and TCP are)")
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			if os.Getenv("GRPC_ECHO_SERVER") != "" {
				cfg := netexec.GRPCEchoFromEnv(os.Getenv)
				cfg.Log = cmd.OutOrStdout()
				s, err := netexec.ListenGRPCEcho(cfg)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "echo-basic: gRPC echo listening on %v\n", s.Addrs())
				return s.Serve(ctx)
			}
			if os.Getenv("TCP_ECHO_SERVER") != "" {
				s, err := netexec.ListenTCPEcho(netexec.TCPEchoFromEnv(os.Getenv))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "echo-basic: TCP echo listening on %v\n", s.Addrs())
				return s.Serve(ctx)
			}
			cfg := netexec.EchoBasicFromEnv(os.Getenv)
			cfg.Log = cmd.OutOrStdout()
			s, err := netexec.ListenEchoBasic(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "echo-basic: listening on %v\n", s.Addrs())
			return s.Serve(ctx)
		},
	}
}

func newAgnhostCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agnhost",
		Short: "Run an agnhost subcommand (image registry.k8s.io/e2e-test-images/agnhost): netexec, serve-hostname, pause, dns-server",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAgnhostNetexecCmd(), newServeHostnameCmd(), newPauseCmd(), newDNSServerCmd())
	return cmd
}

func newAgnhostNetexecCmd() *cobra.Command {
	var (
		cfg       netexec.AgnhostConfig
		sctpPort  int
		delay     int
		udpListen string
	)
	cmd := &cobra.Command{
		Use:   "netexec",
		Short: "agnhost netexec: HTTP(S) and UDP test server",
		Long: `agnhost netexec answers HTTP on --http-port: / (NOW: time), /clientip,
/header[?key=K], /dial?host=H&port=P&request=R&protocol=http|udp&tries=N,
/echo?msg=M[&code=C], /exit?code=N[&timeout=D&wait=D], /healthz, /readyz,
/hostname, /hostName, /redirect?location=L[&code=C], /shell?cmd=C, /shutdown;
and UDP on --udp-port (-1 off): "hostname", "echo M", "clientip".
SCTP and /upload are not built in.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sctpPort != -1 {
				return errors.New("agnhost netexec: --sctp-port: SCTP is not built into switchyard")
			}
			if delay < 0 {
				return fmt.Errorf("agnhost netexec: --delay-shutdown %d: must be >= 0", delay)
			}
			if cfg.HTTPPort < 0 || cfg.HTTPPort > 65535 || cfg.UDPPort < -1 || cfg.UDPPort > 65535 {
				return errors.New("agnhost netexec: ports must be in 0..65535 (--udp-port -1: off)")
			}
			cfg.DelayShutdown = time.Duration(delay) * time.Second
			if udpListen != "" {
				cfg.UDPAddrs = strings.Split(udpListen, ",")
			}
			var err error
			if cfg.Hostname, err = os.Hostname(); err != nil {
				return err
			}
			cfg.Log = cmd.ErrOrStderr()
			ctx, stop := signalContext(cmd)
			defer stop()
			err = netexec.RunAgnhostNetexec(ctx, cfg)
			if ee := (*netexec.ExitError)(nil); errors.As(err, &ee) {
				os.Exit(ee.Code)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.HTTPPort, "http-port", 8080, "HTTP listen port")
	f.IntVar(&cfg.UDPPort, "udp-port", 8081, "UDP listen port (-1 = off)")
	f.IntVar(&sctpPort, "sctp-port", -1, "SCTP listen port (not built in: only -1)")
	f.StringVar(&cfg.CertFile, "tls-cert-file", "", "certificate file: serve HTTPS")
	f.StringVar(&cfg.KeyFile, "tls-private-key-file", "", "private key of --tls-cert-file")
	f.StringVar(&cfg.HTTPOverride, "http-override", "", "answer every request as a GET of this path and query")
	f.StringVar(&udpListen, "udp-listen-addresses", "", "comma-separated IPs the UDP server listens on (default any)")
	f.IntVar(&delay, "delay-shutdown", 0, "seconds to keep serving after SIGTERM (/readyz answers 503)")
	return cmd
}

func newServeHostnameCmd() *cobra.Command {
	var cfg netexec.ServeHostnameConfig
	cmd := &cobra.Command{
		Use:   "serve-hostname",
		Short: "agnhost serve-hostname: answer the hostname over HTTP, or raw over TCP and UDP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Hostname, err = os.Hostname(); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			return netexec.RunServeHostname(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Port, "port", 9376, "port to listen on")
	f.BoolVar(&cfg.TCP, "tcp", false, "serve raw over TCP")
	f.BoolVar(&cfg.UDP, "udp", false, "serve raw over UDP")
	f.BoolVar(&cfg.HTTP, "http", true, "serve HTTP (not with --tcp or --udp)")
	f.BoolVar(&cfg.Close, "close", false, "close the connection after each HTTP answer")
	return cmd
}

func newPauseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pause",
		Short: "Sleep until SIGTERM or SIGINT, then exit 0 (agnhost pause, image registry.k8s.io/pause)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			fmt.Fprintln(cmd.ErrOrStderr(), "Paused")
			<-ctx.Done()
			fmt.Fprintln(cmd.ErrOrStderr(), "Signal received, exiting")
			return nil
		},
	}
}

func newDNSServerCmd() *cobra.Command {
	var (
		port  int
		hosts string
	)
	cmd := &cobra.Command{
		Use:   "dns-server",
		Short: "agnhost dns-server: answer A/AAAA queries from /etc/hosts on port 53 (UDP and TCP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			return netexec.RunDNSServer(ctx, port, hosts)
		},
	}
	cmd.Flags().IntVar(&port, "port", 53, "port to listen on")
	cmd.Flags().StringVar(&hosts, "hosts-file", "/etc/hosts", "records to serve")
	return cmd
}

// newCoreDNSCmd is `switchyard coredns [-conf FILE]`, the image
// registry.k8s.io/coredns/coredns for upstream test manifests. CoreDNS's
// flags have one dash (-conf), so they are parsed here, not by cobra.
func newCoreDNSCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "coredns [-conf FILE]",
		Short: "Serve a Corefile's whoami and forward server blocks (image registry.k8s.io/coredns/coredns)",
		Long: `coredns stands in for the CoreDNS image in test manifests: it reads the Corefile
(-conf, default ./Corefile) and serves its server blocks on UDP and TCP, with the
plugins whoami, forward, log, errors, health and ready. Other plugins are refused.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			conf := "Corefile"
			for i := 0; i < len(args); i++ {
				switch a := strings.TrimLeft(args[i], "-"); {
				case a == "conf" && i+1 < len(args):
					conf = args[i+1]
					i++
				case strings.HasPrefix(a, "conf="):
					conf = strings.TrimPrefix(a, "conf=")
				case a == "help" || a == "h":
					return cmd.Help()
				default:
					return fmt.Errorf("coredns: unsupported argument %q (only -conf FILE)", args[i])
				}
			}
			f, err := os.Open(conf)
			if err != nil {
				return fmt.Errorf("coredns: %w", err)
			}
			blocks, err := netexec.ParseCorefile(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("coredns: %s: %w", conf, err)
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			return netexec.RunCoreDNS(ctx, blocks, func(addrs []net.Addr) {
				fmt.Fprintf(cmd.ErrOrStderr(), "coredns: listening on %v\n", addrs)
			})
		},
	}
}
