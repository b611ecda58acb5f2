package sending

import (
	"context"
	htmltemplate "html/template"
	"io"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"tui/store"
)

// UnsubscribeField is the template value that holds the recipient's
// one-click unsubscribe link: {{.unsubscribe_url}}. It is reserved: a
// contact field of that name is not used.
const UnsubscribeField = "unsubscribe_url"

// TestSubjectPrefix marks the subject of a test send.
const TestSubjectPrefix = "[TEST] "

// Rendered is a campaign's message for one recipient.
type Rendered struct {
	store.Message
	Format            string // "" (text), "markdown" or "html": Body is written so
	Unsubscribe       string // the recipient's signed one-click URL, when configured
	UnsubscribeMailto string
}

// Renderer renders a campaign for many recipients: the subject and body
// templates, the unsubscribe link of each, and, for an HTML campaign, the
// body with every contact value escaped for HTML (html/template). A text or
// Markdown body runs through the store's renderer, the fast path of big
// sends: {{.unsubscribe_url}} is rewritten into literal marker text of the
// same length (so error columns stay right), and each message's marker is
// replaced by its own link.
type Renderer struct {
	id       uint64
	format   string
	text     *store.Renderer // subject, and the body unless HTML
	html     *htmltemplate.Template
	htmlText string // the HTML body's source, for an error's column
	// htmlGuard renders the HTML body's template as text under the store's
	// render budget before html/template runs it: the two execute the same
	// steps, and html/template has no budget of its own.
	htmlGuard *store.Renderer
	links     *Links
	usesLink  bool
	test      bool
}

// Markers stand for {{.unsubscribe_url}} in a rewritten template; each has
// the length of what it replaces and survives any escaping unchanged.
const (
	markerBare   = "TUIUNSUBLINKAAAAAAAA"   // {{.unsubscribe_url}}
	markerSpaced = "TUIUNSUBLINKBBBBBBBBBB" // {{ .unsubscribe_url }}
	markerQuoted = `"TUIUNSUBLINKCC"`       // .unsubscribe_url anywhere else
)

var markerTexts = []string{markerSpaced, markerBare, strings.Trim(markerQuoted, `"`)}

// NewRenderer parses the campaign's templates. links may be nil (no
// unsubscribe listener configured); a template that uses
// {{.unsubscribe_url}} then fails with a *store.FieldError saying what to
// set.
func NewRenderer(c *store.Campaign, links *Links) (*Renderer, error) {
	r := &Renderer{id: c.ID, format: c.Format, links: links}
	cp := *c
	var err error
	var used bool
	if cp.Subject, used, err = rewriteLinks("subject", cp.Subject, links); err != nil {
		return nil, err
	}
	r.usesLink = used
	if c.Format == "html" {
		var guardBody string
		if guardBody, used, err = rewriteLinks("body", c.Body, links); err != nil {
			return nil, err
		}
		guard := store.Campaign{ID: c.ID, Body: guardBody}
		if r.htmlGuard, err = store.NewRenderer(&guard); err != nil {
			return nil, err
		}
		t, err := htmltemplate.New("body").Option("missingkey=error").Parse(c.Body)
		if err != nil {
			return nil, store.TemplateError("body", c.Body, err)
		}
		// Escaping is worked out at the first execution: do it now, so a
		// template the escaper refuses is an error of the campaign, not of
		// every recipient. A missing field is expected here.
		if err := t.Execute(io.Discard, map[string]string{}); err != nil {
			if _, ok := err.(*htmltemplate.Error); ok {
				return nil, &store.FieldError{Field: "body", Msg: strings.TrimPrefix(err.Error(), "html/template:")}
			}
		}
		r.html, r.htmlText = t, c.Body
		cp.Body = ""
	} else if cp.Body, used, err = rewriteLinks("body", cp.Body, links); err != nil {
		return nil, err
	}
	r.usesLink = r.usesLink || used
	if r.text, err = store.NewRenderer(&cp); err != nil {
		return nil, err
	}
	return r, nil
}

// ForTest returns a renderer of test sends: the subject marked, and links
// whose tokens unsubscribe nobody.
func (r *Renderer) ForTest() *Renderer {
	t := *r
	t.test = true
	return &t
}

// WithContext returns the renderer rendering under ctx: once ctx is done, a
// rendering under way stops within a few template steps.
func (r *Renderer) WithContext(ctx context.Context) *Renderer {
	c := *r
	c.text = r.text.WithContext(ctx)
	if r.htmlGuard != nil {
		c.htmlGuard = r.htmlGuard.WithContext(ctx)
	}
	return &c
}

// CheckRaw returns the error RenderRaw would, building as little as it can.
func (r *Renderer) CheckRaw(raw store.RawContact) error {
	if r.html == nil {
		return r.text.CheckRaw(raw)
	}
	_, err := r.RenderRaw(0, raw)
	return err
}

// RenderRaw renders the message of a contact record as stored.
func (r *Renderer) RenderRaw(contactID uint64, raw store.RawContact) (Rendered, error) {
	if r.html == nil {
		msg, err := r.text.RenderRaw(raw)
		if err != nil {
			return Rendered{}, err
		}
		return r.finish(contactID, msg), nil
	}
	ct, err := raw.DecodeForMessage()
	if err != nil {
		return Rendered{}, err
	}
	if contactID == 0 {
		contactID = ct.ID
	}
	return r.render(contactID, &ct)
}

// Render renders the message of a contact.
func (r *Renderer) Render(ct *store.Contact) (Rendered, error) { return r.render(ct.ID, ct) }

func (r *Renderer) render(contactID uint64, ct *store.Contact) (Rendered, error) {
	msg, err := r.text.Render(ct)
	if err != nil {
		return Rendered{}, err
	}
	if r.html == nil {
		return r.finish(contactID, msg), nil
	}
	if _, err := r.htmlGuard.Render(ct); err != nil {
		return Rendered{}, err
	}
	out := r.finish(contactID, msg)
	data := ct.TemplateData()
	data[UnsubscribeField] = out.Unsubscribe
	var b strings.Builder
	if err := r.html.Execute(&b, data); err != nil {
		return Rendered{}, store.TemplateError("body", r.htmlText, err)
	}
	out.Body = b.String()
	return out, nil
}

// finish puts in the recipient's links.
func (r *Renderer) finish(contactID uint64, msg store.Message) Rendered {
	out := Rendered{Message: msg, Format: r.format}
	if r.links != nil {
		out.Unsubscribe, out.UnsubscribeMailto = r.links.For(r.id, contactID, r.test)
	}
	if r.usesLink {
		for _, m := range markerTexts {
			out.Subject = strings.ReplaceAll(out.Subject, m, out.Unsubscribe)
			out.Body = strings.ReplaceAll(out.Body, m, out.Unsubscribe)
		}
	}
	if r.test {
		out.Subject = TestSubjectPrefix + out.Subject
	}
	return out
}

// rewriteLinks replaces each {{.unsubscribe_url}} of a template with a
// marker of the same length and reports whether there was one. Without
// links, a use is an error at its line and column.
func rewriteLinks(field, text string, links *Links) (string, bool, error) {
	if !strings.Contains(text, UnsubscribeField) {
		return text, false, nil
	}
	t, err := template.New(field).Parse(text)
	if err != nil {
		return text, false, nil // the store's renderer reports it with its position
	}
	var at []int
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walkFields(tt.Tree.Root, func(f *parse.FieldNode) {
				if len(f.Ident) == 1 && f.Ident[0] == UnsubscribeField {
					at = append(at, int(f.Pos))
				}
			})
		}
	}
	if len(at) == 0 {
		return text, false, nil
	}
	if links == nil {
		line := 1 + strings.Count(text[:at[0]], "\n")
		col := 1 + utf8.RuneCountInString(text[strings.LastIndexByte(text[:at[0]], '\n')+1:at[0]])
		return text, true, &store.FieldError{Field: field, Line: line, Col: col,
			Msg: "{{.unsubscribe_url}} needs the unsubscribe listener's address: set TUI_UNSUBSCRIBE_URL and TUI_UNSUBSCRIBE_SECRET where tui runs (README: One-click unsubscribe)"}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(at)))
	const name = "." + UnsubscribeField
	for _, p := range at {
		if p+len(name) > len(text) || text[p:p+len(name)] != name {
			continue
		}
		switch {
		case p >= 2 && strings.HasPrefix(text[p+len(name):], "}}") && text[p-2:p] == "{{":
			text = text[:p-2] + markerBare + text[p+len(name)+2:]
		case p >= 3 && strings.HasPrefix(text[p+len(name):], " }}") && text[p-3:p] == "{{ ":
			text = text[:p-3] + markerSpaced + text[p+len(name)+3:]
		default:
			text = text[:p] + markerQuoted + text[p+len(name):]
		}
	}
	return text, true, nil
}

// walkFields calls fn for every field node under n.
func walkFields(n parse.Node, fn func(*parse.FieldNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkFields(c, fn)
		}
	case *parse.ActionNode:
		walkFields(n.Pipe, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkFields(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkFields(a, fn)
		}
	case *parse.FieldNode:
		fn(n)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walkFields(n.Pipe, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(*parse.FieldNode)) {
	walkFields(b.Pipe, fn)
	walkFields(b.List, fn)
	walkFields(b.ElseList, fn)
}
