package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"unicode/utf8"
)

// Templates are Go text/template over a contact's fields ({{.name}},
// {{.city}}); a field the contact lacks is an error, never an empty string.

var (
	// "template: body:3: unexpected ..." and "template: body:3:14: executing ..."
	tmplPos = regexp.MustCompile(`^template: [^:]+:(\d+)(?::(\d+))?: (.*)$`)
	// "unclosed action started at body:2": where an open action began.
	actionStart = regexp.MustCompile(` started at [^:\s]+:(\d+)$`)
)

// parseFuncs declares the budget's functions to the parser; each
// execution binds its own (see execState).
var parseFuncs = budgetFuncs(nil)

// parseTemplate parses a template and refuses one that calls itself.
func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(parseFuncs).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := checkRecursion(t); err != nil {
		re := err.(*recursionError)
		if re.node != nil {
			location, _ := t.ErrorContext(re.node)
			return nil, fmt.Errorf("template: %s: %w", location, err)
		}
		return nil, err
	}
	return t, nil
}

// CheckTemplate parses a template and returns a *FieldError with the line
// (and column, when text/template reports one) of the first problem.
func CheckTemplate(field, text string) *FieldError {
	if _, err := parseTemplate(field, text); err != nil {
		return templateError(field, text, err)
	}
	return nil
}

func templateError(field, text string, err error) *FieldError {
	msg := err.Error()
	fe := &FieldError{Field: field, Msg: msg}
	if m := tmplPos.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			offset, _ := strconv.Atoi(m[2])
			fe.Col = runeColumn(text, fe.Line, offset)
		}
		fe.Msg = cleanTemplateMsg(m[3])
		if s := actionStart.FindStringSubmatchIndex(fe.Msg); s != nil {
			fe.StartLine, _ = strconv.Atoi(fe.Msg[s[2]:s[3]])
			fe.Msg = fe.Msg[:s[0]]
		}
	}
	return fe
}

// runeColumn turns text/template's column, a 0-based byte offset into the
// line, into the 1-based character column an editor shows.
func runeColumn(text string, line, byteOffset int) int {
	for i := 1; i < line; i++ {
		nl := strings.IndexByte(text, '\n')
		if nl < 0 {
			return byteOffset + 1
		}
		text = text[nl+1:]
	}
	if nl := strings.IndexByte(text, '\n'); nl >= 0 {
		text = text[:nl]
	}
	if byteOffset > len(text) {
		byteOffset = len(text)
	}
	return utf8.RuneCountInString(text[:byteOffset]) + 1
}

var execAt = regexp.MustCompile(`^executing "[^"]*" at <([^>]*)>: (.*)$`)

func cleanTemplateMsg(msg string) string {
	if m := execAt.FindStringSubmatch(msg); m != nil {
		inner := m[2]
		if strings.HasPrefix(inner, "map has no entry for key ") {
			return "the contact has no field " + strings.TrimPrefix(inner, "map has no entry for key ") + " (in " + m[1] + ")"
		}
		return m[1] + ": " + inner
	}
	return msg
}

// Message is a campaign rendered for one contact.
type Message struct {
	Subject string
	Body    string
}

// Renderer renders one campaign's templates for many contacts; it parses the
// templates once. It is safe for concurrent use. Every message is rendered
// within the render budget (see MaxBodyBytes).
type Renderer struct {
	subject, body         *template.Template
	fastSubject, fastBody *fastTemplate // nil when text/template must run
	// The sources, to turn an error's byte offset into a column.
	subjectText, bodyText string
	ctx                   context.Context
	states                *sync.Pool // of *execState
}

// execState is what one execution of text/template needs: the templates
// bound to a budget of their own. Renderers keep them in a pool.
type execState struct {
	b             budget
	subject, body *template.Template
}

// NewRenderer parses the campaign's subject and body.
func NewRenderer(c *Campaign) (*Renderer, error) {
	subject, err := parseTemplate("subject", c.Subject)
	if err != nil {
		return nil, templateError("subject", c.Subject, err)
	}
	body, err := parseTemplate("body", c.Body)
	if err != nil {
		return nil, templateError("body", c.Body, err)
	}
	// The fast path reads the trees as they were written; the slow one
	// runs them with a step at each template and loop iteration.
	r := &Renderer{subjectText: c.Subject, bodyText: c.Body, ctx: context.Background(),
		fastSubject: compileFast(subject), fastBody: compileFast(body)}
	injectSteps(subject)
	injectSteps(body)
	r.subject, r.body = subject, body
	r.states = &sync.Pool{New: func() any {
		st := &execState{}
		st.subject, _ = subject.Clone()
		st.body, _ = body.Clone()
		st.subject.Funcs(budgetFuncs(&st.b))
		st.body.Funcs(budgetFuncs(&st.b))
		return st
	}}
	return r, nil
}

// WithContext returns the renderer rendering under ctx: once ctx is done,
// a rendering under way stops within a few steps with ctx's error.
func (r *Renderer) WithContext(ctx context.Context) *Renderer {
	cp := *r
	cp.ctx = ctx
	return &cp
}

// Render executes both templates with the contact's fields. An error is a
// *FieldError naming the template, line and column; one over the render
// budget wraps ErrRenderBudget.
func (r *Renderer) Render(ct *Contact) (Message, error) {
	if r.fastSubject != nil && r.fastBody != nil {
		var sb, bb strings.Builder
		if err := r.fastSubject.execute(&sb, ct, MaxSubjectBytes); err != nil {
			return Message{}, r.fastError("subject", r.subjectText, err)
		}
		if err := r.fastBody.execute(&bb, ct, MaxBodyBytes); err != nil {
			return Message{}, r.fastError("body", r.bodyText, err)
		}
		return Message{Subject: sb.String(), Body: bb.String()}, nil
	}
	return r.renderSlow(ct)
}

func (r *Renderer) fastError(field, text string, err error) error {
	var be *budgetError
	if errors.As(err, &be) {
		return &FieldError{Field: field, Msg: be.msg, Err: ErrRenderBudget}
	}
	return templateError(field, text, err)
}

// renderSlow runs text/template.
func (r *Renderer) renderSlow(ct *Contact) (Message, error) {
	if err := r.ctx.Err(); err != nil {
		return Message{}, err
	}
	st := r.states.Get().(*execState)
	defer r.states.Put(st)
	defer st.b.done()
	data := ct.TemplateData()
	sw := &limitedWriter{max: MaxSubjectBytes, field: "subject"}
	st.b.reset(r.ctx)
	if err := st.subject.Execute(sw, data); err != nil {
		return Message{}, r.execError("subject", r.subjectText, err)
	}
	st.b.done()
	bw := &limitedWriter{max: MaxBodyBytes, field: "body"}
	st.b.reset(r.ctx)
	if err := st.body.Execute(bw, data); err != nil {
		return Message{}, r.execError("body", r.bodyText, err)
	}
	return Message{Subject: sw.b.String(), Body: bw.b.String()}, nil
}

// execError turns text/template's error into a *FieldError, or returns
// the context's error when the rendering was cancelled.
func (r *Renderer) execError(field, text string, err error) error {
	var be *budgetError
	if errors.As(err, &be) {
		fe := &FieldError{Field: field, Msg: be.msg, Err: ErrRenderBudget}
		if m := tmplPos.FindStringSubmatch(err.Error()); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
		}
		return fe
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if cerr := r.ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return templateError(field, text, unwrapExec(err))
}

func unwrapExec(err error) error {
	var ee template.ExecError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// checkRenderBudget renders c once for a stand-in contact, and reports a
// render limit it goes over. A template that runs away does so for most
// contacts: this finds it when the campaign is saved. The stand-in has a
// value for every field the templates name, and a field it lacks reads as
// empty rather than failing, so that as much of the template as possible
// runs. Other errors are the preview's and the preflight's to report, with
// a real contact.
func checkRenderBudget(c *Campaign) *FieldError {
	r, err := NewRenderer(c)
	if err != nil {
		return nil // the parse errors are reported on their own
	}
	data := map[string]string{"address": "someone@example.com"}
	for _, t := range []*template.Template{r.subject, r.body} {
		for _, f := range referencedFields(t) {
			data[f] = f
		}
	}
	var b budget
	for _, f := range []struct {
		name string
		t    *template.Template
		text string
		max  int
	}{{"subject", r.subject, c.Subject, MaxSubjectBytes}, {"body", r.body, c.Body, MaxBodyBytes}} {
		t, _ := f.t.Clone()
		t.Option("missingkey=zero").Funcs(budgetFuncs(&b))
		b.reset(context.Background())
		err := t.Execute(&limitedWriter{max: f.max, field: f.name}, data)
		b.done()
		if err == nil {
			continue
		}
		var fe *FieldError
		if errors.As(r.execError(f.name, f.text, err), &fe) && errors.Is(fe, ErrRenderBudget) {
			return fe
		}
	}
	return nil
}
