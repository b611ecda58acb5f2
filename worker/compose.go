package worker

import (
	"context"

	mail "github.com/wneessen/go-mail"

	"tui/internal/jsonstr"
	"tui/message"
	"tui/queue"
)

// parts are the alternatives of a job's message: a Markdown body becomes
// HTML and text, an HTML body gets a text part made from it.
func parts(j *queue.Job) message.Parts {
	f, err := message.ParseFormat(j.Format)
	if err != nil {
		f = message.FormatText
	}
	return message.Split(f, j.Body)
}

// setContent fills in the body parts and the headers mailbox providers ask
// of bulk mail: a text/plain part always, multipart/alternative with a
// text/html part when there is HTML (both UTF-8, quoted-printable), and the
// one-click unsubscribe of RFC 8058 (List-Unsubscribe with the signed
// HTTPS link and any mailto:, List-Unsubscribe-Post).
func setContent(m *mail.Msg, j *queue.Job) {
	p := parts(j)
	m.SetBodyString(mail.TypeTextPlain, p.Text)
	if p.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, p.HTML)
	}
	var links []string
	if j.Unsubscribe != "" {
		links = append(links, "<"+j.Unsubscribe+">")
	}
	if j.UnsubscribeMailto != "" {
		links = append(links, "<"+j.UnsubscribeMailto+">")
	}
	if len(links) > 0 {
		m.SetGenHeader(mail.HeaderListUnsubscribe, links...)
	}
	if j.Unsubscribe != "" {
		// One-click applies to the HTTPS link only.
		m.SetGenHeader(mail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	if j.Test {
		m.SetGenHeader("X-Tui-Test", "1")
	}
}

// appendBodyParts writes an outbox line's body, and its html,
// unsubscribe_url and test fields when the message has them.
func appendBodyParts(b []byte, j *queue.Job) []byte {
	b = append(b, `,"body":`...)
	if j.Format == "" || j.Format == string(message.FormatText) {
		b = jsonstr.AppendNoHTML(b, j.Body)
	} else {
		p := parts(j)
		b = jsonstr.AppendNoHTML(b, p.Text)
		if p.HTML != "" {
			b = append(b, `,"html":`...)
			b = jsonstr.AppendNoHTML(b, p.HTML)
		}
	}
	if j.Unsubscribe != "" {
		b = append(b, `,"unsubscribe_url":`...)
		b = jsonstr.AppendNoHTML(b, j.Unsubscribe)
	}
	if j.Test {
		b = append(b, `,"test":true`...)
	}
	return b
}

// textOnly hands a channel that carries only text (Messenger) the text part
// of a Markdown or HTML message.
type textOnly struct{ Channel }

func (t textOnly) Deliver(ctx context.Context, d Delivery) error {
	if d.Job.Format != "" && d.Job.Format != string(message.FormatText) {
		d.Job.Body, d.Job.Format = parts(&d.Job).Text, ""
	}
	return t.Channel.Deliver(ctx, d)
}
