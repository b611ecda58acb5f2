package message

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText makes the plain-text part of an HTML body the user wrote:
// the visible text, a line break for each block, links as "text (url)",
// list items marked, images by their alt text; head, style and script
// left out.
func HTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	skip := 0          // inside head, style, script, title, template
	pre := 0           // inside pre: whitespace kept
	var links []string // hrefs of open anchors, "" for one not shown
	var linkText []int // where each open anchor's text starts in b
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyText(b.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			if pre == 0 {
				t = collapseSpace(t, endsInSpace(&b))
			}
			b.WriteString(t)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			end := tt == html.EndTagToken
			switch a {
			case atom.Head, atom.Style, atom.Script, atom.Title, atom.Template, atom.Noscript:
				if tt == html.SelfClosingTagToken {
					continue
				}
				if end {
					skip = max(0, skip-1)
				} else {
					skip++
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch a {
			case atom.Br:
				b.WriteString("\n")
			case atom.P, atom.Div, atom.Table, atom.Ul, atom.Ol, atom.Blockquote, atom.Section,
				atom.Article, atom.Header, atom.Footer, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				b.WriteString("\n\n")
			case atom.Tr:
				b.WriteString("\n")
			case atom.Td, atom.Th:
				if !end {
					b.WriteString(" ")
				}
			case atom.Hr:
				b.WriteString("\n\n----\n\n")
			case atom.Li:
				if !end {
					b.WriteString("\n- ")
				}
			case atom.Pre:
				b.WriteString("\n\n")
				if end {
					pre = max(0, pre-1)
				} else {
					pre++
				}
			case atom.Img:
				if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
					b.WriteString("[" + alt + "]")
				}
			case atom.A:
				if !end {
					links = append(links, attrs["href"])
					linkText = append(linkText, b.Len())
					continue
				}
				if len(links) == 0 {
					continue
				}
				href, start := links[len(links)-1], linkText[len(linkText)-1]
				links, linkText = links[:len(links)-1], linkText[:len(linkText)-1]
				label := strings.TrimSpace(b.String()[start:])
				if href == "" || strings.HasPrefix(href, "#") || label == href || "mailto:"+label == href {
					continue
				}
				if label == "" {
					b.WriteString(href)
				} else {
					b.WriteString(" (" + href + ")")
				}
			}
		}
	}
}

var spaces = regexp.MustCompile(`[ \t\r\n\f]+`)

// collapseSpace folds runs of HTML whitespace into one space, as a
// browser shows them.
func collapseSpace(s string, afterSpace bool) string {
	s = spaces.ReplaceAllString(s, " ")
	if afterSpace {
		s = strings.TrimLeft(s, " ")
	}
	return s
}

func endsInSpace(b *strings.Builder) bool {
	s := b.String()
	return s == "" || strings.HasSuffix(s, " ") || strings.HasSuffix(s, "\n")
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidyText trims each line and keeps at most one blank line in a row.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	s = blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.TrimSpace(s) + "\n"
}
