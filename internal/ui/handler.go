package ui

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

//go:embed assets
var assets embed.FS

// Source is what the page reads: a database snapshot, the l2pop
// configuration, and the change-log revision the server has read (a new
// revision is what the event stream announces).
type Source interface {
	Snapshot(ctx context.Context) (*neutron.State, error)
	L2PopConfig() l2pop.Config
	Revision() int64
}

// Handler serves /ui (the page), /ui/state.json (the topology) and
// /ui/events (server-sent events: one "revision" event whenever the
// change log moves, checked every poll).
func Handler(src Source, poll time.Duration, log *slog.Logger) http.Handler {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, "/ui")
		switch rest {
		case "":
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
		case "/state.json":
			st, err := src.Snapshot(r.Context())
			if err != nil {
				log.Warn("ui: snapshot", "err", err)
				http.Error(w, "cannot read state", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(Build(st, src.L2PopConfig()).JSON())
		case "/events":
			events(w, r, src, poll)
		default:
			r2 := r.Clone(r.Context())
			r2.URL.Path = rest
			files.ServeHTTP(w, r2)
		}
	})
}

func events(w http.ResponseWriter, r *http.Request, src Source, poll time.Duration) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	t := time.NewTicker(poll)
	defer t.Stop()
	last := int64(-1)
	for {
		if rev := src.Revision(); rev != last {
			last = rev
			if _, err := fmt.Fprintf(w, "event: revision\ndata: %d\n\n", rev); err != nil {
				return
			}
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
