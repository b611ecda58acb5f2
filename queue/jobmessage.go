package queue

// The fields of a job beyond its plain text: the body's format, the
// unsubscribe links, the test mark. Each is written only when set, so a
// plain job costs nothing more. Both Job.values and the enqueue's encoder
// append them here.

func (j *Job) appendMessageFields(v []any) []any {
	if j.Format != "" && j.Format != "text" {
		v = append(v, "format", j.Format)
	}
	if j.Unsubscribe != "" {
		v = append(v, "unsub", j.Unsubscribe)
	}
	if j.UnsubscribeMailto != "" {
		v = append(v, "unsub_mailto", j.UnsubscribeMailto)
	}
	if j.Test {
		v = append(v, "test", "1")
	}
	return v
}

func (j *Job) readMessageFields(str func(string) string) {
	j.Format = str("format")
	j.Unsubscribe, j.UnsubscribeMailto = str("unsub"), str("unsub_mailto")
	j.Test = str("test") == "1"
}
