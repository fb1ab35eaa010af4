package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
)

// opsServer serves kem-server's operations endpoints, never on the data
// port: Prometheus metrics (-metrics) and a health check (-health, and
// /healthz next to the metrics), which answers 503 once the server is
// shutting down so that a load balancer stops sending it connections.
type opsServer struct {
	registry *prometheus.Registry
	servers  []*http.Server
	addrs    []string
}

func newOps() *opsServer {
	reg := prometheus.NewRegistry()
	return &opsServer{registry: reg}
}

func (o *opsServer) start(metricsAddr, healthAddr string, srv *server.Server) error {
	health := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if srv.Draining() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux := func(metrics bool) *http.ServeMux {
		m := http.NewServeMux()
		m.Handle("/healthz", health)
		if metrics {
			m.Handle("/metrics", promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{}))
		}
		return m
	}
	listen := func(addr string, metrics bool) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w", addr, err)
		}
		hs := &http.Server{Handler: mux(metrics), ReadHeaderTimeout: 5 * time.Second}
		o.servers = append(o.servers, hs)
		what := "health check at http://" + ln.Addr().String() + "/healthz"
		if metrics {
			what = "metrics at http://" + ln.Addr().String() + "/metrics (health check at /healthz)"
		}
		o.addrs = append(o.addrs, what)
		go hs.Serve(ln)
		return nil
	}
	if metricsAddr != "" {
		if err := listen(metricsAddr, true); err != nil {
			return err
		}
	}
	if healthAddr != "" && healthAddr != metricsAddr {
		if err := listen(healthAddr, false); err != nil {
			o.stop()
			return err
		}
	}
	return nil
}

func (o *opsServer) lines(w io.Writer) {
	for _, a := range o.addrs {
		fmt.Fprintf(w, "Serving %s\n", a)
	}
}

func (o *opsServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range o.servers {
		s.Shutdown(ctx)
	}
}

// proxyListener wraps ln for the PROXY protocol (v1 and v2, by
// github.com/pires/go-proxyproto): a connection from the load balancers in
// trusted must start with a header, whose client address then stands for
// the connection's. A connection from anyone else is served as it is: its
// bytes are never read as a header (SKIP, not REJECT, which would make each
// direct client wait out the timeout for a header before its ServerHello,
// since the server speaks first), so a header it sends fails its handshake
// and cannot claim an address.
func proxyListener(ln net.Listener, trusted *cidrFlag, timeout time.Duration) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: timeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if t, ok := o.Upstream.(*net.TCPAddr); ok && trusted.contains(t.IP) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.SKIP, nil
		},
	}
}

// version is kemtcp's module version, as built in ("(devel)" from a
// checkout).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "unknown"
}

// liboqsVersion is the linked liboqs's version, or "" without it.
func liboqsVersion() string {
	v := kem.BackendVersion(kem.BackendLiboqs)
	if len(v) > len("liboqs ") {
		return v[len("liboqs "):]
	}
	return ""
}
