package message

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// Format is how a campaign's body is written.
type Format string

// The body formats. A text body is sent as it is, in one text/plain part;
// Markdown and HTML bodies are sent as multipart/alternative with a
// text/plain part made from the same source.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
)

// ParseFormat accepts a format name; "" is text.
func ParseFormat(s string) (Format, error) {
	switch Format(strings.ToLower(strings.TrimSpace(s))) {
	case "", FormatText, "plain":
		return FormatText, nil
	case FormatMarkdown, "md":
		return FormatMarkdown, nil
	case FormatHTML:
		return FormatHTML, nil
	}
	return "", fmt.Errorf("unknown body format %q: use text, markdown or html", s)
}

// Parts are the alternatives of one message: Text always, HTML when the
// body is Markdown or HTML.
type Parts struct {
	Text string
	HTML string
}

// markdown is GitHub-flavoured Markdown (tables, strikethrough, autolinks,
// task lists). Raw HTML in the source is left out of the HTML part, and
// javascript: links are not rendered: contact fields go into the source
// as they are, and must not be able to inject markup.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// Split turns a rendered body into its parts.
func Split(format Format, body string) Parts {
	switch format {
	case FormatMarkdown:
		return markdownParts(body)
	case FormatHTML:
		return Parts{Text: HTMLToText(body), HTML: body}
	}
	return Parts{Text: body}
}

// markdownParts renders the HTML part and a plain-text part from one parse.
func markdownParts(src string) Parts {
	source := []byte(src)
	doc := markdown.Parser().Parse(text.NewReader(source))
	var h bytes.Buffer
	h.WriteString(htmlHead)
	if err := markdown.Renderer().Render(&h, source, doc); err != nil {
		// Rendering into memory cannot fail; keep the text part regardless.
		return Parts{Text: src}
	}
	h.WriteString(htmlFoot)
	return Parts{Text: markdownText(doc, source), HTML: h.String()}
}

// The HTML part is a whole document: some clients show a bare fragment in
// a fallback font, or mis-detect its charset.
const (
	htmlHead = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\n" +
		"<body style=\"font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; line-height: 1.5;\">\n"
	htmlFoot = "</body></html>\n"
)

// markdownText writes the document as plain text a person reads in any
// client: emphasis marks dropped, links as "text (url)", lists and quotes
// kept, code indented, headings underlined.
func markdownText(doc ast.Node, src []byte) string {
	w := &textWriter{src: src}
	w.blocks(doc, "")
	// A block left out (raw HTML) leaves its separator behind.
	return strings.TrimRight(blankLines.ReplaceAllString(w.b.String(), "\n\n"), "\n") + "\n"
}

type textWriter struct {
	src []byte
	b   strings.Builder
}

// blocks writes the block children of n, a blank line between them; prefix
// starts every line (quotes, list indentation).
func (w *textWriter) blocks(n ast.Node, prefix string) {
	first := true
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if !first && !tightItem(c) {
			w.b.WriteString(strings.TrimRight(prefix, " ") + "\n")
		}
		first = false
		w.block(c, prefix)
	}
}

// tightItem reports a paragraph-like child of a tight list item, which
// takes no blank line before it.
func tightItem(n ast.Node) bool {
	if n.Kind() == ast.KindTextBlock {
		return true
	}
	if l, ok := n.Parent().(*ast.ListItem); ok {
		if list, ok := l.Parent().(*ast.List); ok && list.IsTight {
			return true
		}
	}
	return false
}

func (w *textWriter) block(n ast.Node, prefix string) {
	switch n := n.(type) {
	case *ast.Heading:
		line := w.inline(n)
		w.lines(line, prefix)
		switch n.Level {
		case 1:
			w.lines(strings.Repeat("=", max(3, runeLen(line))), prefix)
		case 2:
			w.lines(strings.Repeat("-", max(3, runeLen(line))), prefix)
		}
	case *ast.Paragraph, *ast.TextBlock:
		w.lines(w.inline(n), prefix)
	case *ast.ThematicBreak:
		w.lines("----", prefix)
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		var code strings.Builder
		lines := n.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			code.Write(seg.Value(w.src))
		}
		w.lines(strings.TrimRight(code.String(), "\n"), prefix+"    ")
	case *ast.Blockquote:
		w.blocks(n, prefix+"> ")
	case *ast.List:
		i := n.Start
		for item := n.FirstChild(); item != nil; item = item.NextSibling() {
			if item != n.FirstChild() && !n.IsTight {
				w.b.WriteString(strings.TrimRight(prefix, " ") + "\n")
			}
			marker := "- "
			if n.IsOrdered() {
				marker = fmt.Sprintf("%d. ", i)
				i++
			}
			w.listItem(item, prefix, marker)
		}
	case *ast.HTMLBlock:
		// Raw HTML is not part of the message (the HTML part leaves it out too).
	case *east.Table:
		for row := n.FirstChild(); row != nil; row = row.NextSibling() {
			var cells []string
			for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
				cells = append(cells, w.inline(cell))
			}
			w.lines(strings.Join(cells, " | "), prefix)
		}
	default:
		if n.HasChildren() {
			w.blocks(n, prefix)
		}
	}
}

// listItem writes an item: its first line after the marker, the rest
// indented under it.
func (w *textWriter) listItem(item ast.Node, prefix, marker string) {
	var sub textWriter
	sub.src = w.src
	sub.blocks(item, "")
	body := strings.TrimRight(sub.b.String(), "\n")
	indent := strings.Repeat(" ", len(marker))
	for i, line := range strings.Split(body, "\n") {
		switch {
		case i == 0:
			w.b.WriteString(prefix + marker + line + "\n")
		case line == "":
			w.b.WriteString(strings.TrimRight(prefix, " ") + "\n")
		default:
			w.b.WriteString(prefix + indent + line + "\n")
		}
	}
}

// lines writes text, each line after prefix.
func (w *textWriter) lines(s, prefix string) {
	for _, line := range strings.Split(s, "\n") {
		w.b.WriteString(strings.TrimRight(prefix+line, " ") + "\n")
	}
}

// inline renders the inline content of a block as one string.
func (w *textWriter) inline(n ast.Node) string {
	var b strings.Builder
	w.inlines(&b, n)
	return strings.TrimSpace(b.String())
}

func (w *textWriter) inlines(b *strings.Builder, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(w.src))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte('\n')
			}
		case *ast.String:
			b.Write(c.Value)
		case *ast.CodeSpan:
			w.inlines(b, c)
		case *ast.AutoLink:
			b.Write(c.URL(w.src))
		case *ast.Link:
			var label strings.Builder
			w.inlines(&label, c)
			dest := string(c.Destination)
			switch l := strings.TrimSpace(label.String()); {
			case l == "" || l == dest || "mailto:"+l == dest:
				b.WriteString(dest)
			default:
				b.WriteString(l + " (" + dest + ")")
			}
		case *ast.Image:
			var alt strings.Builder
			w.inlines(&alt, c)
			if a := strings.TrimSpace(alt.String()); a != "" {
				b.WriteString("[" + a + "]")
			}
		case *ast.RawHTML:
			// left out, as in the HTML part
		case *east.TaskCheckBox:
			if c.IsChecked {
				b.WriteString("[x] ")
			} else {
				b.WriteString("[ ] ")
			}
		default:
			w.inlines(b, c)
		}
	}
}

func runeLen(s string) int { return len([]rune(s)) }
