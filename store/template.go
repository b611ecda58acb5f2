package store

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"
)

// Templates are Go text/template over a contact's fields ({{.name}},
// {{.city}}); a field the contact lacks is an error, never an empty string.

var (
	// "template: body:3: unexpected ..." and "template: body:3:14: executing ..."
	tmplPos = regexp.MustCompile(`^template: [^:]+:(\d+)(?::(\d+))?: (.*)$`)
)

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Parse(text)
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
// templates once. It is safe for concurrent use.
type Renderer struct {
	subject, body         *template.Template
	fastSubject, fastBody *fastTemplate // nil when text/template must run
	// The sources, to turn an error's byte offset into a column.
	subjectText, bodyText string
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
	return &Renderer{subject: subject, body: body, subjectText: c.Subject, bodyText: c.Body,
		fastSubject: compileFast(subject), fastBody: compileFast(body)}, nil
}

// Render executes both templates with the contact's fields. An error is a
// *FieldError naming the template, line and column.
func (r *Renderer) Render(ct *Contact) (Message, error) {
	if r.fastSubject != nil && r.fastBody != nil {
		var sb, bb strings.Builder
		if err := r.fastSubject.execute(&sb, ct); err != nil {
			return Message{}, templateError("subject", r.subjectText, err)
		}
		if err := r.fastBody.execute(&bb, ct); err != nil {
			return Message{}, templateError("body", r.bodyText, err)
		}
		return Message{Subject: sb.String(), Body: bb.String()}, nil
	}
	return r.renderSlow(ct)
}

// renderSlow runs text/template.
func (r *Renderer) renderSlow(ct *Contact) (Message, error) {
	data := ct.TemplateData()
	var sb, bb strings.Builder
	if err := r.subject.Execute(&sb, data); err != nil {
		return Message{}, templateError("subject", r.subjectText, unwrapExec(err))
	}
	if err := r.body.Execute(&bb, data); err != nil {
		return Message{}, templateError("body", r.bodyText, unwrapExec(err))
	}
	return Message{Subject: sb.String(), Body: bb.String()}, nil
}

func unwrapExec(err error) error {
	var ee template.ExecError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
