package server

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// startDoors starts the mail protocol listeners the configuration names.
func (s *Server) startDoors(ctx context.Context) error {
	return nil
}

// webHandler serves the health endpoint and the web app.
func (s *Server) webHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Caduceus\n"))
	})
	return mux
}

// health answers 200 when the store answers, 503 otherwise.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.DB().PingContext(r.Context()); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// registerMetrics adds the node's own gauges to reg.
func (s *Server) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "caduceus_queue_messages",
		Help: "Remote recipients waiting in the outbound queue.",
	}, func() float64 {
		var n float64
		if err := s.Store.DB().QueryRow(`SELECT COUNT(*) FROM outbound`).Scan(&n); err != nil {
			return -1
		}
		return n
	}))
}
