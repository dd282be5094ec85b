package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teamd-go/teamd-go/team"
)

// Server serves /metrics for one team.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Serve listens on addr (host:port, the config's metrics: key) and
// serves GET /metrics: the team's state as collect returns it at each
// scrape, plus the Go runtime's and the process's standard metrics.
// Every other path is 404. It returns once the socket is bound, so a
// busy address is an error here, not in a log line later.
func Serve(addr string, collect func() team.State, version string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(collect, version)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelError)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            errLog,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          errLog,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: serve", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("metrics: serving /metrics", "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the address the server listens on (with the port the
// kernel chose when addr asked for port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes open connections and waits for the
// server to stop. Closing a nil Server does nothing.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.done
	return err
}
