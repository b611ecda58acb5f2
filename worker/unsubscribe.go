package worker

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"tui/message"
	"tui/queue"
)

// The one-click unsubscribe listener (tui --headless-worker --listen ADDR),
// meant to run behind a reverse proxy that terminates HTTPS. Every message
// of a send carries the link https://…/u/[<tag>/]<token>, whose token names the
// campaign and the contact under an HMAC made with TUI_UNSUBSCRIBE_SECRET.
//
//	POST …/<token>   RFC 8058 one-click (the mailbox provider posts
//	                 "List-Unsubscribe=One-Click"), and the button of the page
//	                 below: records the unsubscribe, answers 200 and a page
//	GET  …/<token>   a person who clicked the link: a page with a button that
//	                 POSTs. A GET never unsubscribes: mail scanners follow links
//	GET  /healthz    200 "ok", for the proxy
//
// The token is the last segment of the path, so the proxy may keep any
// prefix; the segment before it may be the tag of the database whose
// message it was (message.Signer.SignDatabase), which goes with the request
// so that only that database's owner takes it. A token that does not
// verify gets 404, the same for every kind of wrong; a test send's token
// answers that nobody was unsubscribed. The listener keeps no state: it
// appends each unsubscribe to Redis, where the owner of the database folds
// it into the suppression list. When Redis cannot take it, the answer is
// 503 with Retry-After, never a false "done".

// UnsubscribeRecorder stores one unsubscribe (queue.RecordUnsubscribe).
type UnsubscribeRecorder func(ctx context.Context, u queue.Unsubscribe) error

// UnsubscribeHandler serves unsubscribe links.
type UnsubscribeHandler struct {
	signer *message.Signer
	record UnsubscribeRecorder
	log    *slog.Logger
	now    func() time.Time
}

// NewUnsubscribeHandler verifies tokens with signer and stores requests
// through record.
func NewUnsubscribeHandler(signer *message.Signer, record UnsubscribeRecorder, log *slog.Logger) *UnsubscribeHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &UnsubscribeHandler{signer: signer, record: record, log: log, now: time.Now}
}

// NewUnsubscribeServer wraps the handler in a server with the timeouts a
// public listener needs.
func NewUnsubscribeServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
}

func (h *UnsubscribeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	if r.URL.Path == "/healthz" {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	path := strings.TrimRight(r.URL.Path, "/")
	tokenText := path[strings.LastIndexByte(path, '/')+1:]
	// The segment before the token may be the tag of the database whose
	// message it was; any other segment there is the proxy's prefix.
	rest := path[:max(0, len(path)-len(tokenText)-1)]
	db, _ := h.signer.VerifyDatabase(rest[strings.LastIndexByte(rest, '/')+1:], tokenText)
	tok, err := h.signer.Verify(tokenText)
	if err != nil {
		h.page(w, http.StatusNotFound, pageInvalid)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if tok.Test {
			h.page(w, http.StatusOK, pageTest)
			return
		}
		h.page(w, http.StatusOK, pageConfirm)
	case http.MethodPost:
		// The body is "List-Unsubscribe=One-Click" from a provider, or the
		// same from the page's form; either way the token decides.
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		_ = r.ParseForm()
		if tok.Test {
			h.page(w, http.StatusOK, pageTest)
			return
		}
		via := "page"
		if r.PostFormValue("List-Unsubscribe") == "One-Click" && r.PostFormValue("confirm") == "" {
			via = "one-click"
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		err := h.record(ctx, queue.Unsubscribe{Campaign: tok.Campaign, Contact: tok.Contact, Via: via, At: h.now().UTC(), DB: db})
		cancel()
		if err != nil {
			h.log.Error("could not record an unsubscribe; the client was asked to try again",
				"campaign", tok.Campaign, "contact", tok.Contact, "err", queue.Explain(err))
			hdr.Set("Retry-After", "60")
			h.page(w, http.StatusServiceUnavailable, pageTryAgain)
			return
		}
		h.log.Info("unsubscribe recorded", "campaign", tok.Campaign, "contact", tok.Contact, "via", via)
		h.page(w, http.StatusOK, pageDone)
	default:
		hdr.Set("Allow", "GET, HEAD, POST")
		h.page(w, http.StatusMethodNotAllowed, pageInvalid)
	}
}

type pageKind int

const (
	pageConfirm pageKind = iota
	pageDone
	pageTest
	pageInvalid
	pageTryAgain
)

var pageText = map[pageKind]struct{ Title, Text string }{
	pageConfirm:  {"Unsubscribe", "Press the button to stop receiving these emails."},
	pageDone:     {"You are unsubscribed", "You will not receive these emails any more. You can close this page."},
	pageTest:     {"Test message", "This link came in a test message: it works, and nobody was unsubscribed."},
	pageInvalid:  {"Link not valid", "This unsubscribe link is not valid. Copy the whole link from the email, or reply to the sender."},
	pageTryAgain: {"Please try again", "Your request could not be recorded just now. Please try again in a minute."},
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}
button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:.3rem;background:#222;color:#fff;cursor:pointer}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Form}}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><input type="hidden" name="confirm" value="1"><button type="submit">Unsubscribe</button></form>{{end}}
</body></html>
`))

func (h *UnsubscribeHandler) page(w http.ResponseWriter, status int, kind pageKind) {
	t := pageText[kind]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct {
		Title, Text string
		Form        bool
	}{t.Title, t.Text, kind == pageConfirm})
}

// Serve runs srv on ln until ctx ends, then shuts it down, giving requests
// under way a few seconds to finish.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
