package proxy

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves /metrics, /healthz (the process is alive), /readyz
// (it should get traffic: ready() is false while starting or draining)
// and, when purge is not nil, /purge (PurgeHandler).
func AdminHandler(g prometheus.Gatherer, ready func() bool, purge http.Handler) http.Handler {
	r := chi.NewRouter()
	if purge != nil {
		r.Handle("/purge", purge)
	}
	r.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	return r
}
