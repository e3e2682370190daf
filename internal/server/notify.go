package server

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"caduceus/internal/notify"
)

// startNotifier sends the new-mail notifications of the deliveries this node
// makes, for the node's life. It starts once the web app's address is known
// and before the doors, so that it hears of the first delivery.
func (s *Server) startNotifier(ctx context.Context) {
	s.notifier = notify.New(s.Core, notify.Options{
		BaseURL:  strings.TrimSuffix(s.BaseURL(), "/"),
		From:     "noreply@" + s.Config.Hostname,
		Hostname: s.Config.Hostname,
		Logger:   s.log.With("task", "notify"),
	})
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.notifier.Run(ctx)
	}()
}

// registerNotifier adds the notifier's counters to reg.
func (s *Server) registerNotifier(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_notifications_sent_total", Help: "New-mail notification mails queued."},
			func() float64 { return float64(s.notifier.Sent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_notification_failures_total", Help: "New-mail notification mails that could not be queued."},
			func() float64 { return float64(s.notifier.Failed()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_push_notifications_sent_total", Help: "Web Push notifications accepted by push services."},
			func() float64 { return float64(s.notifier.PushSent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "caduceus_push_notification_failures_total", Help: "Web Push notifications that could not be sent."},
			func() float64 { return float64(s.notifier.PushFailed()) }),
	)
}
