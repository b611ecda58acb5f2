package store

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Most campaign templates are text with {{.field}} holes. For those,
// rendering walks a compiled list of parts instead of text/template's
// reflective executor, several times faster over a million recipients. The
// output and the errors are exactly text/template's (a test compares them);
// any other template runs through text/template.

type fastPart struct {
	text  string
	field string           // when non-empty, the value of this field
	node  *parse.FieldNode // for the error's position
}

type fastTemplate struct {
	tmpl  *template.Template
	parts []fastPart
	raw   *rawPlan // nil when the template has too many fields
}

// compileFast returns nil when the template uses anything beyond text and
// single-field actions.
func compileFast(t *template.Template) *fastTemplate {
	if t.Tree == nil || len(t.Templates()) > 1 {
		return nil
	}
	ft := &fastTemplate{tmpl: t}
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			ft.parts = append(ft.parts, fastPart{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || p.IsAssign || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil
			}
			ft.parts = append(ft.parts, fastPart{field: f.Ident[0], node: f})
		default:
			return nil
		}
	}
	ft.raw = newRawPlan(ft)
	return ft
}

// lookup finds a template field of a contact as TemplateData would.
func lookup(c *Contact, key string) (string, bool) {
	if key == "address" {
		return c.Address, true
	}
	if v, ok := c.Fields[key]; ok {
		return v, true
	}
	if key == "name" && c.Name != "" {
		return c.Name, true
	}
	return "", false
}

// execute writes the message into sb, and fails as text/template under the
// render budget would once it passes limit bytes.
func (ft *fastTemplate) execute(sb *strings.Builder, c *Contact, limit int) error {
	for i := range ft.parts {
		p := &ft.parts[i]
		v := p.text
		if p.field != "" {
			var ok bool
			if v, ok = lookup(c, p.field); !ok {
				location, context := ft.tmpl.ErrorContext(p.node)
				return fmt.Errorf("template: %s: executing %q at <%s>: map has no entry for key %q",
					location, ft.tmpl.Name(), context, p.field)
			}
		}
		if sb.Len()+len(v) > limit {
			return tooLong(ft.tmpl.Name(), limit)
		}
		sb.WriteString(v)
	}
	return nil
}

// A send renders every recipient twice (preflight and start), and decoding
// each contact record into a Contact, with a map of all its fields, cost
// more than the rendering. The raw path below reads the record in place,
// keeps only where the template's fields sit in it, and falls back to
// decoding for anything it does not handle exactly as decodeMessageFields
// would: escapes, very long numbers, a missing field (for the error's text).

// rawSpan is where a string value sits in a record; ok when present.
type rawSpan struct {
	start, end int32
	ok         bool
}

// maxRawFields bounds the distinct fields the raw path tracks, so that the
// spans live on the stack.
const maxRawFields = 16

// rawPlan is what the raw path needs of a template: the distinct field
// names it uses, and for each part the field's slot (-1 for text).
type rawPlan struct {
	names []string
	slots []int
}

func newRawPlan(ft *fastTemplate) *rawPlan {
	p := &rawPlan{slots: make([]int, len(ft.parts))}
	for i, part := range ft.parts {
		p.slots[i] = -1
		if part.field == "" {
			continue
		}
		slot := -1
		for j, n := range p.names {
			if n == part.field {
				slot = j
			}
		}
		if slot < 0 {
			slot = len(p.names)
			p.names = append(p.names, part.field)
		}
		p.slots[i] = slot
	}
	if len(p.names) > maxRawFields {
		return nil
	}
	return p
}

// rawRecord is what the raw scan found in a record.
type rawRecord struct {
	address, name rawSpan
	subject, body [maxRawFields]rawSpan // parallel to each plan's names
}

// rawStr passes over a JSON string and returns where its contents sit; ok is
// false for anything that scanner.str would not return as the bytes
// themselves (escapes) or would refuse.
func (s *scanner) rawStr() (rawSpan, bool) {
	if !s.expect('"') {
		return rawSpan{}, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch ch := s.b[s.i]; {
		case ch == '"':
			sp := rawSpan{start: int32(start), end: int32(s.i), ok: true}
			s.i++
			return sp, true
		case ch == '\\' || ch < 0x20:
			return rawSpan{}, false
		case ch >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				return rawSpan{}, false
			}
			s.i += size
		default:
			s.i++
		}
	}
	return rawSpan{}, false
}

// rawDigits accepts what jsonDigits and then strconv accept, without
// allocating: up to 18 digits cannot overflow; longer numbers are refused
// (the fallback decodes them).
func (s *scanner) rawDigits(signed bool) bool {
	s.skipSpace()
	if signed && s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	return n > 0 && n <= 18 && (s.b[digits] != '0' || n == 1)
}

// scanRaw mirrors fastDecode(lite) over a record for a subject and body
// plan; ok is false whenever decodeMessageFields could have read it
// differently.
func scanRaw(raw []byte, subject, body *rawPlan, rec *rawRecord) bool {
	if len(raw) > 1<<31-1 {
		return false
	}
	s := scanner{b: raw}
	if !s.expect('{') || s.peek() == '}' {
		return false
	}
	fieldsSeen := false
	for {
		ksp, ok := s.rawStr()
		if !ok || !s.expect(':') {
			return false
		}
		switch string(raw[ksp.start:ksp.end]) {
		case "id":
			ok = s.rawDigits(false)
		case "address":
			rec.address, ok = s.rawStr()
		case "name":
			rec.name, ok = s.rawStr()
		case "fields":
			if fieldsSeen {
				return false // json.Unmarshal merges a repeated object
			}
			fieldsSeen = true
			ok = scanFields(&s, subject, body, rec)
		case "tags":
			ok = s.skipStrList() == nil
		case "kind", "created_at", "updated_at", "import_id":
			ok = s.skipStr() == nil
		case "import_row":
			ok = s.rawDigits(true)
		default:
			return false
		}
		if !ok {
			return false
		}
		if s.expect(',') {
			continue
		}
		return s.expect('}') && s.atEnd()
	}
}

func scanFields(s *scanner, subject, body *rawPlan, rec *rawRecord) bool {
	if s.null() {
		return true
	}
	if !s.expect('{') {
		return false
	}
	if s.expect('}') {
		return true
	}
	for {
		ksp, ok := s.rawStr()
		if !ok || !s.expect(':') {
			return false
		}
		vsp, ok := s.rawStr()
		if !ok {
			return false
		}
		key := s.b[ksp.start:ksp.end]
		for i, n := range subject.names {
			if n == string(key) {
				rec.subject[i] = vsp
			}
		}
		for i, n := range body.names {
			if n == string(key) {
				rec.body[i] = vsp
			}
		}
		if s.expect(',') {
			continue
		}
		return s.expect('}')
	}
}

// value is lookup over a scanned record; fields holds the plan's spans.
func (p *rawPlan) value(raw []byte, rec *rawRecord, fields *[maxRawFields]rawSpan, slot int) ([]byte, bool) {
	switch name := p.names[slot]; {
	case name == "address":
		return raw[rec.address.start:rec.address.end], true
	case fields[slot].ok:
		return raw[fields[slot].start:fields[slot].end], true
	case name == "name" && rec.name.end > rec.name.start:
		return raw[rec.name.start:rec.name.end], true
	}
	return nil, false
}

// size is the rendered length of the template, or -1 when a field is
// missing.
func (ft *fastTemplate) size(raw []byte, rec *rawRecord, fields *[maxRawFields]rawSpan) int {
	n := 0
	for i, slot := range ft.raw.slots {
		if slot < 0 {
			n += len(ft.parts[i].text)
			continue
		}
		v, ok := ft.raw.value(raw, rec, fields, slot)
		if !ok {
			return -1
		}
		n += len(v)
	}
	return n
}

func (ft *fastTemplate) write(sb *strings.Builder, raw []byte, rec *rawRecord, fields *[maxRawFields]rawSpan) {
	for i, slot := range ft.raw.slots {
		if slot < 0 {
			sb.WriteString(ft.parts[i].text)
			continue
		}
		v, _ := ft.raw.value(raw, rec, fields, slot)
		sb.Write(v)
	}
}

// rawSizes scans a record for the raw path: the subject's and body's
// lengths, or ok false when the record must be decoded.
func (r *Renderer) rawSizes(raw []byte, rec *rawRecord) (ns, nb int, ok bool) {
	s, b := r.fastSubject, r.fastBody
	if s == nil || b == nil || s.raw == nil || b.raw == nil || !scanRaw(raw, s.raw, b.raw, rec) {
		return 0, 0, false
	}
	ns, nb = s.size(raw, rec, &rec.subject), b.size(raw, rec, &rec.body)
	// Over the budget, the decoded path says which limit.
	return ns, nb, ns >= 0 && nb >= 0 && ns <= MaxSubjectBytes && nb <= MaxBodyBytes
}

// RenderRaw is Render over a contact record as stored: the same message and
// the same error as decoding the record (RawContact.DecodeForMessage) and
// rendering it, a decoding error included.
func (r *Renderer) RenderRaw(raw RawContact) (Message, error) {
	var rec rawRecord
	if ns, nb, ok := r.rawSizes(raw, &rec); ok {
		// One allocation holds both.
		var sb strings.Builder
		sb.Grow(ns + nb)
		r.fastSubject.write(&sb, raw, &rec, &rec.subject)
		r.fastBody.write(&sb, raw, &rec, &rec.body)
		s := sb.String()
		return Message{Subject: s[:ns], Body: s[ns:]}, nil
	}
	ct, err := raw.DecodeForMessage()
	if err != nil {
		return Message{}, err
	}
	return r.Render(&ct)
}

// CheckRaw returns the error RenderRaw would, without building the message:
// a preflight only needs to know that every message renders.
func (r *Renderer) CheckRaw(raw RawContact) error {
	var rec rawRecord
	if _, _, ok := r.rawSizes(raw, &rec); ok {
		return nil
	}
	_, err := r.RenderRaw(raw)
	return err
}
