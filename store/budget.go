package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// The render budget. A template is a program: `t1` calling `t0` twice,
// `t2` calling `t1` twice, and so on up to `t59`, is a few lines that would
// write 2^59 bytes; `{{range 1000000000}}{{end}}` writes nothing and never
// ends; `{{$x = print $x $x}}` in a loop doubles a string each time. None
// may run away with a process that serves many people, so every message is
// rendered within these limits, checked when a campaign is saved, in the
// editor's preview, in the preflight and when the jobs are queued. Going
// over one is a template error that names the limit.
const (
	// MaxSubjectBytes bounds a rendered subject.
	MaxSubjectBytes = 16 << 10
	// MaxBodyBytes bounds a rendered body, and the body template itself.
	MaxBodyBytes = 1 << 20
	// MaxRenderSteps bounds the template calls, loop iterations and
	// function calls of one template's execution; a function that builds
	// a string is charged a step more for each KiB it builds. It is the
	// limit that stops runaways, and the same template and contact always
	// reach it at the same point.
	MaxRenderSteps = 100_000
	// MaxRenderTime bounds the CPU time one template's execution may use
	// once it has taken a thousand steps (an ordinary template takes a few
	// dozen and is never timed): the backstop for work that is large per
	// step, such as comparing long strings in a loop. It is the thread's
	// CPU time, not the clock's, so a busy machine does not fail a
	// template that an idle one renders.
	MaxRenderTime = time.Second
)

// ErrRenderBudget is what a template that goes over a render limit fails
// with (inside a *FieldError that names the template and the limit).
var ErrRenderBudget = errors.New("over the render budget")

// budgetError is a render limit reached, with the sentence that says so.
type budgetError struct{ msg string }

func (e *budgetError) Error() string { return e.msg }
func (e *budgetError) Unwrap() error { return ErrRenderBudget }

func tooLong(field string, limit int) *budgetError {
	return &budgetError{msg: fmt.Sprintf("the rendered %s would be longer than %s (the render budget): a loop or nested templates repeat too much text", field, byteSize(limit))}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

var (
	errTooManySteps = &budgetError{msg: fmt.Sprintf("the template ran more than %s steps (the render budget): a loop or nested templates repeat too often", groupThousands(MaxRenderSteps))}
	errTooSlow      = &budgetError{msg: fmt.Sprintf("rendering used more than %s of CPU (the render budget): the template does too much work for one message", MaxRenderTime)}
	errValueTooLong = &budgetError{msg: fmt.Sprintf("a value the template builds would be longer than %s (the render budget)", byteSize(MaxBodyBytes))}
)

func groupThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// budget is one execution's account. The functions of an execState's
// templates charge it.
type budget struct {
	ctx   context.Context
	steps int
	// timed is set once the execution passed a thousand steps: from then
	// on it keeps its OS thread, whose CPU time since cpuStart is charged.
	timed    bool
	cpuStart time.Duration
}

func (b *budget) reset(ctx context.Context) {
	b.ctx, b.steps = ctx, 0
}

// done ends an execution; it must follow every one.
func (b *budget) done() {
	if b.timed {
		b.timed = false
		runtime.UnlockOSThread()
	}
}

// step charges one step, and every 64 steps looks at the clock and at the
// context, which ends the execution when the preflight or the preview it
// serves was cancelled.
func (b *budget) step() error { return b.charge(1) }

// charge takes n steps.
func (b *budget) charge(n int) error {
	before := b.steps
	b.steps += n
	if b.steps > MaxRenderSteps {
		return errTooManySteps
	}
	if before>>6 != b.steps>>6 {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		switch {
		case b.steps <= 1024:
		case !b.timed:
			b.timed = true
			runtime.LockOSThread()
			b.cpuStart = threadCPU()
		case threadCPU()-b.cpuStart > MaxRenderTime:
			return errTooSlow
		}
	}
	return nil
}

// stepFunc is the function the budget injects at the start of every
// template and of every loop iteration.
const stepFunc = "tui_render_step"

// budgetFuncs are the template's functions bound to b: the step, and the
// builtins that build strings, replaced by versions that refuse to build
// one over the limit before they build it.
func budgetFuncs(b *budget) template.FuncMap {
	return template.FuncMap{
		stepFunc: func() (string, error) { return "", b.step() },
		"print": func(args ...any) (string, error) {
			if err := charge(b, argsSize(args)); err != nil {
				return "", err
			}
			return fmt.Sprint(args...), nil
		},
		"println": func(args ...any) (string, error) {
			if err := charge(b, argsSize(args)+len(args)+1); err != nil {
				return "", err
			}
			return fmt.Sprintln(args...), nil
		},
		"printf": func(format string, args ...any) (string, error) {
			if err := charge(b, printfSize(format, args)); err != nil {
				return "", err
			}
			return fmt.Sprintf(format, args...), nil
		},
		// The escapers grow their input at most sixfold, and their input
		// is bounded: they run first and are checked after.
		"html": func(args ...any) (string, error) {
			return checked(b, template.HTMLEscaper(args...))
		},
		"js": func(args ...any) (string, error) {
			return checked(b, template.JSEscaper(args...))
		},
		"urlquery": func(args ...any) (string, error) {
			if err := charge(b, 3*argsSize(args)); err != nil {
				return "", err
			}
			return template.URLQueryEscaper(args...), nil
		},
	}
}

// charge accounts for a function that builds about size bytes: a step,
// and one more per KiB.
func charge(b *budget, size int) error {
	if b == nil {
		return nil
	}
	if size > MaxBodyBytes {
		return errValueTooLong
	}
	return b.charge(1 + size>>10)
}

func checked(b *budget, s string) (string, error) {
	if err := charge(b, len(s)); err != nil {
		return "", err
	}
	return s, nil
}

// argsSize is about how long fmt.Sprint(args...) is, without making it.
func argsSize(args []any) int {
	n := 0
	for _, a := range args {
		n += valueSize(a)
	}
	return n
}

func valueSize(a any) int {
	switch v := a.(type) {
	case string:
		return len(v)
	case []byte:
		return len(v)
	case map[string]string:
		n := 5
		for k, x := range v {
			n += len(k) + len(x) + 2
		}
		return n
	}
	return 32
}

// printfSize is at least how long fmt.Sprintf(format, args...) would be:
// the format, each verb taking the largest argument, and every width and
// precision (fmt allows up to a million each).
func printfSize(format string, args []any) int {
	largest, widest := 0, 0
	for _, a := range args {
		largest = max(largest, valueSize(a))
		if n, ok := a.(int); ok {
			widest = max(widest, n, -n)
		}
	}
	n := len(format)
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		n += largest
		for ; i < len(format); i++ {
			c := format[i]
			switch {
			case c >= '0' && c <= '9':
				num := 0
				for ; i < len(format) && format[i] >= '0' && format[i] <= '9' && num < 1e7; i++ {
					num = num*10 + int(format[i]-'0')
				}
				n += num
				i--
			case c == '*':
				n += widest
			case strings.IndexByte("+-# .[]", c) >= 0:
			default:
				goto verb
			}
		}
	verb:
	}
	return n
}

// injectSteps puts a step at the start of every template and of every
// loop's body, so that each template call and each iteration is charged.
func injectSteps(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			injectList(tt.Tree, tt.Tree.Root)
		}
	}
}

func injectList(tree *parse.Tree, list *parse.ListNode) {
	if list == nil {
		return
	}
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.IfNode:
			injectList(tree, n.List)
			injectList(tree, n.ElseList)
		case *parse.WithNode:
			injectList(tree, n.List)
			injectList(tree, n.ElseList)
		case *parse.RangeNode:
			injectList(tree, n.List)
			injectList(tree, n.ElseList)
			n.List.Nodes = append([]parse.Node{stepNode(tree, n.List.Pos)}, n.List.Nodes...)
		}
	}
	if list == tree.Root {
		list.Nodes = append([]parse.Node{stepNode(tree, list.Pos)}, list.Nodes...)
	}
}

// stepNode is {{tui_render_step}} at pos: it prints nothing.
func stepNode(tree *parse.Tree, pos parse.Pos) parse.Node {
	id := parse.NewIdentifier(stepFunc).SetTree(tree).SetPos(pos)
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{id}}
	pipe := &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: pipe}
}

// checkRecursion refuses a template that calls itself, directly or through
// others: each level of it would hold a frame of the executor's stack, and
// text/template allows a hundred thousand.
func checkRecursion(t *template.Template) error {
	calls := map[string][]*parse.TemplateNode{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			collectCalls(tt.Tree.Root, func(n *parse.TemplateNode) { calls[tt.Name()] = append(calls[tt.Name()], n) })
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		path = append(path[:len(path):len(path)], name)
		switch state[name] {
		case onPath:
			return &recursionError{path: path}
		case done:
			return nil
		}
		state[name] = onPath
		for _, c := range calls[name] {
			if err := visit(c.Name, path); err != nil {
				if re, ok := err.(*recursionError); ok && re.node == nil {
					re.node = c
				}
				return err
			}
		}
		state[name] = done
		return nil
	}
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	sort.Strings(names) // the same loop is reported every time
	for _, name := range names {
		if err := visit(name, nil); err != nil {
			return err
		}
	}
	return nil
}

type recursionError struct {
	path []string
	node *parse.TemplateNode // the call that closes the loop
}

func (e *recursionError) Error() string {
	// path ends with the name it started from.
	start := 0
	for i, n := range e.path[:len(e.path)-1] {
		if n == e.path[len(e.path)-1] {
			start = i
		}
	}
	loop := e.path[start:]
	if len(loop) == 2 {
		return fmt.Sprintf("template %q calls itself; templates may not recurse", loop[0])
	}
	return fmt.Sprintf("templates call each other in a loop (%s); templates may not recurse", strings.Join(quoteAll(loop), " → "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

func collectCalls(n parse.Node, f func(*parse.TemplateNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectCalls(c, f)
		}
	case *parse.IfNode:
		collectCalls(n.List, f)
		collectCalls(n.ElseList, f)
	case *parse.WithNode:
		collectCalls(n.List, f)
		collectCalls(n.ElseList, f)
	case *parse.RangeNode:
		collectCalls(n.List, f)
		collectCalls(n.ElseList, f)
	case *parse.TemplateNode:
		f(n)
	}
}

// limitedWriter collects a template's output and fails the execution once
// it would pass max bytes.
type limitedWriter struct {
	b     strings.Builder
	max   int
	field string
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, tooLong(w.field, w.max)
	}
	return w.b.Write(p)
}

// referencedFields are the names a template reads from the contact
// ({{.name}}, {{if .city}}), for a stand-in contact to render with.
func referencedFields(t *template.Template) []string {
	seen := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) > 0 {
				seen[n.Ident[0]] = true
			}
		case *parse.VariableNode: // $.name
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				seen[n.Ident[1]] = true
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	return names
}
