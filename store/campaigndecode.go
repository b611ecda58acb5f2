package store

import (
	"encoding/json"
	"strconv"
)

// decodeCampaign reads a campaign record. The campaign list reads every
// campaign at start, and encoding/json's reflection was most of the time
// with 10,000 of them; this walks the object with contactdecode.go's
// scanner, and anything unexpected falls back to json.Unmarshal.
func decodeCampaign(raw []byte, c *Campaign) error {
	if err := fastDecodeCampaign(raw, c); err != nil {
		*c = Campaign{}
		return json.Unmarshal(raw, c)
	}
	return nil
}

// atEnd reports whether only white space is left. (peek cannot tell the
// end from a NUL byte.)
func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// jsonDigits reads the digits of a JSON integer, with an optional minus
// sign when signed; JSON allows no leading zeros and no plus sign.
func (s *scanner) jsonDigits(signed bool) (string, error) {
	s.skipSpace()
	start := s.i
	if signed && s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.b[digits] == '0' && s.i-digits > 1) {
		return "", errSlowPath
	}
	return string(s.b[start:s.i]), nil
}

func (s *scanner) int() (int, error) {
	d, err := s.jsonDigits(true)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(d, 10, 0)
	return int(n), err
}

func fastDecodeCampaign(raw []byte, c *Campaign) error {
	*c = Campaign{}
	s := &scanner{b: raw}
	if !s.expect('{') {
		return errSlowPath
	}
	if s.expect('}') {
		if !s.atEnd() {
			return errSlowPath
		}
		return nil
	}
	for {
		key, err := s.str()
		if err != nil || !s.expect(':') {
			return errSlowPath
		}
		var str string
		switch key {
		case "id":
			c.ID, err = s.uint()
		case "name":
			c.Name, err = s.str()
		case "channel":
			str, err = s.str()
			c.Channel = Channel(str)
		case "from":
			c.From, err = s.str()
		case "url":
			c.URL, err = s.str()
		case "messaging_type":
			str, err = s.str()
			c.MessagingType = MessagingType(str)
		case "message_tag":
			c.MessageTag, err = s.str()
		case "subject":
			c.Subject, err = s.str()
		case "body":
			c.Body, err = s.str()
		case "format":
			c.Format, err = s.str()
		case "tags":
			c.Tags, err = s.stringList()
		case "exclude_tags":
			c.ExcludeTags, err = s.stringList()
		case "rate":
			c.Rate, err = s.int()
		case "max_attempts":
			c.MaxAttempts, err = s.int()
		case "status":
			str, err = s.str()
			c.Status = Status(str)
		case "version":
			c.Version, err = s.uint()
		case "created_at":
			c.CreatedAt, err = s.time()
		case "updated_at":
			c.UpdatedAt, err = s.time()
		case "updated_by":
			c.UpdatedBy, err = s.str()
		case "last_send":
			if c.LastSend != nil {
				return errSlowPath // json.Unmarshal merges a repeated object
			}
			c.LastSend, err = s.sendInfo()
		default:
			return errSlowPath
		}
		if err != nil {
			return errSlowPath
		}
		if s.expect(',') {
			continue
		}
		if s.expect('}') && s.atEnd() {
			return nil
		}
		return errSlowPath
	}
}

func (s *scanner) sendInfo() (*SendInfo, error) {
	if s.null() {
		return nil, nil
	}
	if !s.expect('{') {
		return nil, errSlowPath
	}
	info := &SendInfo{}
	if s.expect('}') {
		return info, nil
	}
	for {
		key, err := s.str()
		if err != nil || !s.expect(':') {
			return nil, errSlowPath
		}
		switch key {
		case "started_at":
			info.StartedAt, err = s.time()
		case "started_by":
			info.StartedBy, err = s.str()
		case "finished_at":
			if !s.null() {
				t, terr := s.time()
				info.FinishedAt, err = &t, terr
			}
		case "total":
			info.Total, err = s.int()
		case "sent":
			info.Sent, err = s.int()
		case "failed":
			info.Failed, err = s.int()
		default:
			return nil, errSlowPath
		}
		if err != nil {
			return nil, errSlowPath
		}
		if s.expect(',') {
			continue
		}
		if s.expect('}') {
			return info, nil
		}
		return nil, errSlowPath
	}
}
