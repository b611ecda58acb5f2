package store

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
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

func (ft *fastTemplate) execute(sb *strings.Builder, c *Contact) error {
	for i := range ft.parts {
		p := &ft.parts[i]
		if p.field == "" {
			sb.WriteString(p.text)
			continue
		}
		v, ok := lookup(c, p.field)
		if !ok {
			location, context := ft.tmpl.ErrorContext(p.node)
			return fmt.Errorf("template: %s: executing %q at <%s>: map has no entry for key %q",
				location, ft.tmpl.Name(), context, p.field)
		}
		sb.WriteString(v)
	}
	return nil
}
