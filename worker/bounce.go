package worker

import (
	"net/textproto"
	"regexp"
	"strings"
)

// A permanent rejection of the address itself is a bounce: sending there
// again can only hurt the sender's reputation, so the owner suppresses the
// address. Rejections of the message or the sender (5.7.x policy, spam,
// authentication), and mailboxes that are only full (5.2.2), are not: the
// next campaign may well get through.

// bounceCodes are the enhanced status codes (RFC 3463, RFC 7505) that say
// the address cannot receive mail.
var bounceCodes = map[string]bool{
	"5.1.0":  true, // other address status: how some servers say "unknown"
	"5.1.1":  true, // bad destination mailbox: no such user
	"5.1.2":  true, // bad destination system: no such domain
	"5.1.3":  true, // bad destination mailbox address syntax
	"5.1.6":  true, // mailbox has moved, no forwarding address
	"5.1.10": true, // the domain publishes a null MX: it takes no mail
	"5.2.1":  true, // mailbox disabled, not accepting messages
}

var enhancedCode = regexp.MustCompile(`^\s*([245])\.(\d{1,3})\.(\d{1,3})\b`)

// unknownUser is what servers without enhanced codes say about an address
// that does not exist.
var unknownUser = regexp.MustCompile(`(?i)(user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|mailbox unavailable|recipient (address )?rejected|invalid (recipient|mailbox)|mailbox not found|address rejected)`)

// isBounce reports whether an SMTP reply refuses the address for good.
func isBounce(stage string, reply *textproto.Error) bool {
	if reply.Code < 500 || reply.Code >= 600 {
		return false
	}
	if m := enhancedCode.FindStringSubmatch(reply.Msg); m != nil {
		return bounceCodes[m[1]+"."+m[2]+"."+m[3]]
	}
	// No enhanced code: only a refusal of the recipient itself counts.
	if stage != "RCPT TO" {
		return false
	}
	switch reply.Code {
	case 550, 551, 553:
		return unknownUser.MatchString(strings.ReplaceAll(reply.Msg, "\n", " "))
	}
	return false
}
