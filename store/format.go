package store

import (
	bolt "go.etcd.io/bbolt"

	"fmt"
	"strings"
)

// BodyFormats are the ways a campaign's body may be written: plain text
// (stored as ""), Markdown (sent as HTML with a text part made from the
// same source) or HTML (sent with a text part made from it).
var BodyFormats = []string{"text", "markdown", "html"}

func normalizeFormat(f string) string {
	switch f = strings.ToLower(strings.TrimSpace(f)); f {
	case "text", "plain":
		return ""
	case "md":
		return "markdown"
	}
	return f
}

func checkFormat(f string) *FieldError {
	switch f {
	case "", "markdown", "html":
		return nil
	}
	return &FieldError{Field: "format", Msg: fmt.Sprintf("unknown body format %q: use text, markdown or html", f)}
}

// FormatName is the campaign's body format as people name it.
func (c *Campaign) FormatName() string {
	if c.Format == "" {
		return "text"
	}
	return c.Format
}

// TemplateError turns an error of text/template or html/template about a
// campaign's template into a *FieldError with its line and column.
func TemplateError(field, text string, err error) *FieldError {
	return templateError(field, text, unwrapExec(err))
}

// RecordAudit appends an entry to the audit log for an action that changes
// nothing stored (a test send).
func (s *Store) RecordAudit(actor, action, object, detail string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return s.audit(tx, actor, action, object, detail) })
}
