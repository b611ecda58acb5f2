package main

import (
	"errors"
	"fmt"
	"time"

	"tui/sending"
)

// campaignTest is `tui campaign test ID --to ADDR[,ADDR]`: the campaign
// rendered for one contact and delivered once to each address through its
// channel and a running worker, the subject marked [TEST]; the ledger and
// the campaign's status stay as they are. One line per address on stdout;
// exit 0 only if every address got it.
func campaignTest(e *env, g *globals, args []string) error {
	var to, contact *string
	var timeout *time.Duration
	svc, c, closeAll, err := oneCampaign(e, g, "test", args, func(fs flagSet) {
		to = fs.String("to", "", "addresses to send the test to, comma-separated")
		contact = fs.String("contact", "", "render for this contact (address or ID; default: the first recipient)")
		timeout = fs.Duration("timeout", sending.DefaultTestTimeout, "how long to wait for the workers' answers")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	if *to == "" {
		return usagef("campaign test needs --to ADDR[,ADDR]")
	}
	addrs, err := sending.ParseTestAddresses(*to)
	if err != nil {
		return &usageError{msg: "--to: " + err.Error()}
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive, e.g. 45s")
	}
	fmt.Fprintf(e.stderr, "Sending a test of %q to %d address(es) through a %s worker…\n", c.Name, len(addrs), c.Channel)
	rep, err := svc.TestSend(e.ctx, actor(), sending.TestRequest{Campaign: c, Contact: *contact, To: addrs, Timeout: *timeout})
	if rep.Contact.ID != 0 {
		fmt.Fprintf(e.stderr, "Rendered for %s: %s\n", rep.Contact.Address, rep.Subject)
	}
	for _, line := range rep.Lines() {
		fmt.Fprintln(e.stdout, line)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return errors.New("the test did not reach every address (see above)")
	}
	return nil
}
