package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"tui/internal/english"
	"tui/internal/termsafe"
	"tui/sending"
	"tui/store"
)

// stringList is a repeatable string flag (--tag a --tag b, or --tag a,b).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func campaignCmd(e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("campaign needs a subcommand: list, create, edit, duplicate, show, send, status, pause, resume, cancel, retry-failed, set-rate, export, test, schedule or unschedule")
	}
	switch args[0] {
	case "help", "--help", "-help", "-h":
		return &helpRequest{command: "campaign"}
	case "list", "ls":
		return campaignList(e, g, args[1:])
	case "create", "new":
		return campaignCreate(e, g, args[1:])
	case "edit":
		return campaignEdit(e, g, args[1:])
	case "duplicate", "copy":
		return campaignDuplicate(e, g, args[1:])
	case "show", "get":
		return campaignShow(e, g, args[1:])
	case "send":
		return campaignSend(e, g, args[1:])
	case "resume":
		return campaignResume(e, g, args[1:])
	case "pause":
		return campaignPause(e, g, args[1:])
	case "cancel":
		return campaignCancel(e, g, args[1:])
	case "retry-failed":
		return campaignRetryFailed(e, g, args[1:])
	case "status":
		return campaignStatus(e, g, args[1:])
	case "export":
		return campaignExport(e, g, args[1:])
	case "set-rate":
		return campaignSetRate(e, g, args[1:])
	case "test":
		return campaignTest(e, g, args[1:])
	case "schedule":
		return campaignSchedule(e, g, args[1:])
	case "unschedule":
		return campaignUnschedule(e, g, args[1:])
	}
	return usagef("unknown campaign subcommand %q: use list, create, edit, duplicate, show, send, status, pause, resume, cancel, retry-failed, set-rate, export, test, schedule or unschedule", args[0])
}

// campaignJSON is the stable --json shape of a campaign (see README).
type campaignJSON struct {
	ID            uint64                       `json:"id"`
	Name          string                       `json:"name"`
	Status        store.Status                 `json:"status"`
	Channel       store.Channel                `json:"channel"`
	From          string                       `json:"from"`
	URL           string                       `json:"url"`
	MessagingType string                       `json:"messaging_type"`
	MessageTag    string                       `json:"message_tag"`
	Subject       string                       `json:"subject"`
	Body          *string                      `json:"body,omitempty"`
	Format        string                       `json:"format"`
	Tags          []string                     `json:"tags"`
	ExcludeTags   []string                     `json:"exclude_tags"`
	Rate          int                          `json:"rate"`
	MaxAttempts   int                          `json:"max_attempts"`
	Audience      int                          `json:"audience"`
	Version       uint64                       `json:"version"`
	CreatedAt     time.Time                    `json:"created_at"`
	UpdatedAt     time.Time                    `json:"updated_at"`
	UpdatedBy     string                       `json:"updated_by"`
	LastSend      *store.SendInfo              `json:"last_send"`
	Schedule      *scheduleJSON                `json:"schedule"`
	Ledger        map[store.RecipientState]int `json:"ledger,omitempty"`
}

func toCampaignJSON(c store.Campaign, audience int) campaignJSON {
	tags, excl := c.Tags, c.ExcludeTags
	if tags == nil {
		tags = []string{}
	}
	if excl == nil {
		excl = []string{}
	}
	var mt string
	if c.Channel == store.ChannelMessenger {
		mt = string(c.EffectiveMessagingType())
	}
	return campaignJSON{ID: c.ID, Name: c.Name, Status: c.Status, Channel: c.Channel, From: c.From,
		URL: c.URL, MessagingType: mt, MessageTag: c.MessageTag, Subject: c.Subject, Format: c.FormatName(), Tags: tags, ExcludeTags: excl, Rate: c.Rate, MaxAttempts: c.Attempts(), Audience: audience,
		Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy,
		LastSend: c.LastSend, Schedule: toScheduleJSON(c.Schedule)}
}

func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(termsafe.JSON(buf.Bytes()))
	return err
}

func campaignList(e *env, g *globals, args []string) error {
	defer noticeInterrupt(e)()
	fs := newFlagSet(e, "campaign list")
	g.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("campaign list takes no arguments (got %q)", pos[0])
	}
	svc, closeAll, err := sendService(e, g)
	if err != nil {
		return err
	}
	defer closeAll()
	st := svc.Store
	// Sends in progress: fold what waits in Redis so the summaries are
	// exact. Nothing is dialled when nothing is sending.
	if _, err := svc.FoldAll(e.ctx); err != nil && !errors.Is(err, sending.ErrNoSends) {
		fmt.Fprintf(e.stderr, "tui: warning: the send summaries below may be behind: %s\n", termsafe.Text(err.Error()))
	}
	campaigns, err := st.Campaigns()
	if err != nil {
		return err
	}
	sizes, err := st.AudienceSizes(e.ctx, campaigns)
	if err != nil {
		return err
	}
	out := make([]campaignJSON, 0, len(campaigns))
	for _, c := range campaigns {
		out = append(out, toCampaignJSON(c, sizes[store.AudienceKey(&c)]))
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stderr, "No campaigns yet. Create one with: tui campaign create --name NAME --channel file --body-file FILE")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCHANNEL\tAUDIENCE\tLAST SEND\tUPDATED")
	now := time.Now()
	for i, c := range out {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, oneLine(c.Name, 40), statusText(&campaigns[i], now), c.Channel,
			english.Thousands(c.Audience), lastSend(c.LastSend), c.UpdatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func lastSend(s *store.SendInfo) string {
	if s == nil {
		return "never"
	}
	return fmt.Sprintf("%s/%s sent, %s failed", english.Thousands(s.Sent), english.Thousands(s.Total), english.Thousands(s.Failed))
}

// startedLine says when the last send started, by whom, and when it
// finished: "2026-12-07 16:42:08 by ann@host, finished 16:42:20 (took 12s)".
func startedLine(s *store.SendInfo) string {
	line := s.StartedAt.Local().Format("2006-01-02 15:04:05")
	if s.StartedBy != "" {
		line += " by " + s.StartedBy
	}
	if f := s.FinishedAt; f != nil {
		layout := "15:04:05"
		if f.Local().YearDay() != s.StartedAt.Local().YearDay() || f.Year() != s.StartedAt.Year() {
			layout = "2006-01-02 15:04:05"
		}
		line += fmt.Sprintf(", finished %s (took %s)", f.Local().Format(layout), sending.HumanDuration(f.Sub(s.StartedAt)))
	}
	return line
}

// oneLine is s as one table cell of at most max characters, made safe for
// a terminal.
func oneLine(s string, max int) string {
	s = termsafe.Line(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func campaignCreate(e *env, g *globals, args []string) error {
	fs := newFlagSet(e, "campaign create")
	g.register(fs)
	var c store.Campaign
	var tags, excl stringList
	var channel, bodyFile string
	fs.StringVar(&c.Name, "name", "", "campaign name")
	fs.StringVar(&channel, "channel", "", "file, smtp, webhook or messenger")
	fs.StringVar(&bodyFile, "body-file", "", "file with the body template (- for stdin)")
	fs.StringVar(&c.Subject, "subject", "", "subject template")
	fs.Var(&tags, "tag", "audience tag (repeatable)")
	fs.Var(&excl, "exclude-tag", "excluded tag (repeatable)")
	fs.IntVar(&c.Rate, "rate", 0, "messages per second across all workers; 0 = no limit")
	fs.IntVar(&c.MaxAttempts, "max-attempts", 0, "tries per recipient before it fails (default 5)")
	fs.StringVar(&c.From, "from", "", "sender address (smtp)")
	fs.StringVar(&c.URL, "url", "", "webhook URL, or the messenger API base URL")
	var mtype string
	fs.StringVar(&mtype, "messaging-type", "", "messenger: UPDATE (default), RESPONSE or MESSAGE_TAG")
	fs.StringVar(&c.MessageTag, "message-tag", "", "messenger, with MESSAGE_TAG: ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE or HUMAN_AGENT")
	fs.StringVar(&c.Format, "format", "text", "the body's format: text, markdown or html")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("campaign create takes flags only (got %q)", pos[0])
	}
	c.MessagingType = store.MessagingType(mtype)
	if c.MessageTag != "" && mtype == "" {
		// A tag says what it is for: MESSAGE_TAG goes with it.
		c.MessagingType = store.MessagingMessageTag
	}
	var missing []string
	if strings.TrimSpace(c.Name) == "" {
		missing = append(missing, "--name")
	}
	if channel == "" {
		missing = append(missing, "--channel")
	}
	if bodyFile == "" {
		missing = append(missing, "--body-file")
	}
	if len(missing) > 0 {
		return usagef("campaign create needs %s", strings.Join(missing, ", "))
	}
	if c.Channel, err = store.ParseChannel(channel); err != nil {
		return &usageError{msg: "--channel: " + err.Error()}
	}
	// The database first: when its owner runs the command, the body (on
	// standard input, maybe) is the owner's to read.
	st, err := openStore(e, g)
	if err != nil {
		return err
	}
	defer st.Close()
	body, err := readBody(e, bodyFile)
	if err != nil {
		return err
	}
	c.Body = body
	c.Tags, c.ExcludeTags = tags, excl
	created, err := st.CreateCampaign(e.actor(), c)
	if err := validationFailure("created", err); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, created.ID)
	return nil
}

// validationFailure says which flags to fix when a campaign was not saved.
func validationFailure(what string, err error) error {
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		msgs := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			msgs[i] = "  " + flagFor(f.Field) + ": " + strings.TrimPrefix(f.Error(), f.Field+": ")
		}
		return fmt.Errorf("the campaign was not %s:\n%s", what, strings.Join(msgs, "\n"))
	}
	return err
}

// campaignEdit changes the fields of a draft or scheduled campaign that its
// flags name and leaves the others as they are.
func campaignEdit(e *env, g *globals, args []string) error {
	fs := newFlagSet(e, "campaign edit")
	g.register(fs)
	var tags, excl stringList
	name := fs.String("name", "", "campaign name")
	channel := fs.String("channel", "", "file, smtp, webhook or messenger")
	bodyFile := fs.String("body-file", "", "file with the body template (- for stdin)")
	subject := fs.String("subject", "", "subject template")
	fs.Var(&tags, "tag", "audience tag (repeatable; replaces the tags)")
	fs.Var(&excl, "exclude-tag", "excluded tag (repeatable; replaces them)")
	rate := fs.Int("rate", 0, "messages per second across all workers; 0 = no limit")
	attempts := fs.Int("max-attempts", 0, "tries per recipient before it fails (default 5)")
	from := fs.String("from", "", "sender address (smtp)")
	url := fs.String("url", "", "webhook URL, or the messenger API base URL")
	mtype := fs.String("messaging-type", "", "messenger: UPDATE, RESPONSE or MESSAGE_TAG")
	mtag := fs.String("message-tag", "", "messenger, with MESSAGE_TAG: ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE or HUMAN_AGENT")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("campaign edit needs exactly one campaign ID, then the flags of the fields to change")
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, global := range []string{"db", "redis", "outbox"} {
		delete(set, global)
	}
	if len(set) == 0 {
		return usagef("campaign edit %d changes nothing: name the fields to change, such as --subject TEXT or --messaging-type MESSAGE_TAG --message-tag ACCOUNT_UPDATE", id)
	}
	st, err := openStore(e, g)
	if err != nil {
		return err
	}
	defer st.Close()
	var body string
	if set["body-file"] {
		if body, err = readBody(e, *bodyFile); err != nil {
			return err
		}
	}
	c, err := st.Campaign(id)
	if err != nil {
		return err
	}
	if !c.Status.Editable() {
		return fmt.Errorf("campaign %d %q is %s: its message can no longer change. Duplicate it to send it again (c in the app, or tui campaign duplicate %d)", id, c.Name, c.Status, id)
	}
	if set["channel"] {
		if c.Channel, err = store.ParseChannel(*channel); err != nil {
			return &usageError{msg: "--channel: " + err.Error()}
		}
		if c.Channel != store.ChannelMessenger {
			c.MessagingType, c.MessageTag = "", ""
		}
	}
	strs := []struct {
		flag string
		dst  *string
		val  string
	}{{"name", &c.Name, *name}, {"subject", &c.Subject, *subject}, {"from", &c.From, *from}, {"url", &c.URL, *url}, {"message-tag", &c.MessageTag, *mtag}}
	for _, f := range strs {
		if set[f.flag] {
			*f.dst = f.val
		}
	}
	switch {
	case set["messaging-type"]:
		c.MessagingType = store.MessagingType(strings.ToUpper(strings.TrimSpace(*mtype)))
		if c.MessagingType != store.MessagingMessageTag && !set["message-tag"] {
			c.MessageTag = "" // a tag goes only with MESSAGE_TAG
		}
	case set["message-tag"] && *mtag != "":
		c.MessagingType = store.MessagingMessageTag
	}
	if set["body-file"] {
		c.Body = body
	}
	if set["tag"] {
		c.Tags = tags
	}
	if set["exclude-tag"] {
		c.ExcludeTags = excl
	}
	if set["rate"] {
		c.Rate = *rate
	}
	if set["max-attempts"] {
		c.MaxAttempts = *attempts
	}
	saved, err := st.UpdateCampaign(e.actor(), c)
	if err := validationFailure("changed", err); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Saved campaign %d %q (version %d).\n", saved.ID, saved.Name, saved.Version)
	return nil
}

// flagFor names the flag that sets a campaign field.
func flagFor(field string) string {
	switch field {
	case "body":
		return "--body-file"
	case "exclude_tags":
		return "--exclude-tag"
	case "tags":
		return "--tag"
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

const maxBodyBytes = 4 << 20

func readBody(e *env, path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = e.stdin
	} else {
		f, err := e.fs().Open(path)
		if err != nil {
			return "", fmt.Errorf("--body-file: %w", readProblem(path, err))
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBodyBytes+1))
	if err != nil {
		return "", fmt.Errorf("read --body-file: %w", err)
	}
	if len(data) > maxBodyBytes {
		return "", fmt.Errorf("--body-file %s is larger than %d MiB; a message body that large will not be delivered", path, maxBodyBytes>>20)
	}
	return strings.TrimPrefix(string(data), "\ufeff"), nil
}

func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || id == 0 {
		return 0, usagef("%q is not a campaign ID: use the number that `tui campaign list` shows", s)
	}
	return id, nil
}

func campaignShow(e *env, g *globals, args []string) error {
	var asJSON *bool
	svc, c, closeAll, err := oneCampaign(e, g, "show", args, func(fs flagSet) { asJSON = fs.Bool("json", false, "print JSON") })
	if err != nil {
		return err
	}
	defer closeAll()
	st, id := svc.Store, c.ID
	foldOrWarn(e, svc, c)
	if c, err = st.Campaign(id); err != nil {
		return err
	}
	n, err := st.AudienceSize(&c)
	if err != nil {
		return err
	}
	counts, err := st.LedgerCounts(id)
	if err != nil {
		return err
	}
	out := toCampaignJSON(c, n)
	out.Body = &c.Body
	out.Ledger = map[store.RecipientState]int{}
	for _, s := range []store.RecipientState{store.RecipientQueued, store.RecipientRetrying, store.RecipientSent,
		store.RecipientFailed, store.RecipientSkipped, store.RecipientCancelled} {
		out.Ledger[s] = counts[s]
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	// Every value may hold what a person typed: shown, never obeyed.
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, termsafe.Line(v)) }
	row("ID", strconv.FormatUint(c.ID, 10))
	row("Name", c.Name)
	row("Status", string(c.Status))
	if line := scheduleLine(&c, time.Now()); line != "" {
		row("Scheduled", line)
	}
	row("Channel", string(c.Channel))
	if c.From != "" {
		row("From", c.From)
	}
	if c.URL != "" {
		row("URL", c.URL)
	}
	if c.Channel == store.ChannelMessenger {
		mt := string(c.EffectiveMessagingType())
		if c.MessageTag != "" {
			mt += ", tag " + c.MessageTag
		}
		row("Messaging", mt)
	}
	row("Audience", english.Count(n, "recipient", "recipients"))
	row("Tags", orAll(c.Tags))
	row("Exclude tags", orNone(c.ExcludeTags))
	if c.Rate == 0 {
		row("Rate", "no limit")
	} else {
		row("Rate", fmt.Sprintf("%d/s", c.Rate))
	}
	row("Last send", lastSend(c.LastSend))
	if s := c.LastSend; s != nil && !s.StartedAt.IsZero() {
		row("Started", startedLine(s))
	}
	th := english.Thousands
	row("Ledger", fmt.Sprintf("%s queued, %s retrying, %s sent, %s failed, %s skipped, %s cancelled",
		th(counts[store.RecipientQueued]), th(counts[store.RecipientRetrying]), th(counts[store.RecipientSent]),
		th(counts[store.RecipientFailed]), th(counts[store.RecipientSkipped]), th(counts[store.RecipientCancelled])))
	row("Updated", fmt.Sprintf("%s by %s (version %d)", c.UpdatedAt.Local().Format("2006-01-02 15:04:05"), c.UpdatedBy, c.Version))
	if c.Subject == "" {
		row("Subject", "(none)")
	} else {
		row("Subject", c.Subject)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\n%s\n", termsafe.Text(strings.TrimRight(c.Body, "\n")))
	return nil
}

func orAll(tags []string) string {
	if len(tags) == 0 {
		return "(none: every contact)"
	}
	return strings.Join(tags, ", ")
}

func orNone(tags []string) string {
	if len(tags) == 0 {
		return "(none)"
	}
	return strings.Join(tags, ", ")
}
