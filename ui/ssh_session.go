package ui

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"

	"tui/internal/termsafe"
)

// endReason is why an SSH session ended; the first one set wins.
type endReason int32

const (
	endQuit       endReason = iota // the person quit
	endIdle                        // no input for the idle timeout
	endShutdown                    // the server is stopping
	endDisconnect                  // the connection went away
	endPanic                       // a bug: the session was ended, the others go on
)

func (r endReason) String() string {
	switch r {
	case endIdle:
		return "idle"
	case endShutdown:
		return "shutdown"
	case endDisconnect:
		return "disconnected"
	case endPanic:
		return "panic"
	}
	return "quit"
}

// peerChangedMsg is a DataChangedMsg from another session. It has a type
// of its own so that the session receiving it does not pass it on again.
type peerChangedMsg struct{ what DataKind }

// sshSession is one person's session: their App in its own program, and
// the goroutines that feed it (window sizes, other sessions' changes, the
// end of the connection). Every goroutine stops when done is closed.
type sshSession struct {
	id                        uint64
	srv                       *SSHServer
	sess                      ssh.Session
	user, fingerprint, remote string
	started                   time.Time
	app                       *App
	prog                      *tea.Program

	lastInput atomic.Int64 // unix nanoseconds of the last key, paste or resize
	reason    atomic.Int32 // an endReason; endQuit until something else ends it
	final     endReason    // why it ended, once the program has returned
	quitOnce  sync.Once
	quit      chan struct{} // closed by end: the watcher quits the program

	peerMu    sync.Mutex
	peerWhat  map[DataKind]bool
	peerReady chan struct{} // holds one token while peerWhat has news

	idleMu sync.Mutex
	idle   *time.Timer // nil without an idle timeout, or once the session is over

	done    chan struct{} // closed once the program has returned
	helpers sync.WaitGroup
}

// run runs the program until it ends and stops the session's goroutines.
func (ss *sshSession) run(winCh <-chan ssh.Window) (tea.Model, error) {
	ss.touch()
	ss.helpers.Add(3)
	go ss.followWindow(winCh)
	go ss.forwardPeerChanges()
	go ss.watch()
	if d := ss.srv.cfg.IdleTimeout; d > 0 {
		ss.idleMu.Lock()
		ss.idle = time.AfterFunc(d, ss.checkIdle)
		ss.idleMu.Unlock()
	}
	m, err := ss.prog.Run()
	// Kill releases what a program that panicked or was cut off still holds.
	ss.prog.Kill()
	ss.idleMu.Lock()
	if ss.idle != nil {
		ss.idle.Stop()
		ss.idle = nil
	}
	ss.idleMu.Unlock()
	close(ss.done)
	ss.app.Close()
	ss.helpers.Wait()
	return m, err
}

// end asks the program to quit for reason, unless it is ending already.
func (ss *sshSession) end(reason endReason) {
	ss.reason.CompareAndSwap(int32(endQuit), int32(reason))
	ss.quitOnce.Do(func() { close(ss.quit) })
}

// watch quits the program when the connection goes or end is called.
func (ss *sshSession) watch() {
	defer ss.helpers.Done()
	select {
	case <-ss.sess.Context().Done():
		ss.reason.CompareAndSwap(int32(endQuit), int32(endDisconnect))
	case <-ss.quit:
	case <-ss.done:
		return
	}
	ss.prog.Quit()
}

// followWindow passes the client's window changes to the program; the
// first value is the size the PTY was opened with.
func (ss *sshSession) followWindow(winCh <-chan ssh.Window) {
	defer ss.helpers.Done()
	for {
		select {
		case <-ss.done:
			return
		case w, ok := <-winCh:
			if !ok {
				return
			}
			ss.prog.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
		}
	}
}

// offerPeerChange queues a change made in another session. It never
// blocks: the broadcasting session's event loop calls it.
func (ss *sshSession) offerPeerChange(what DataKind) {
	ss.peerMu.Lock()
	ss.peerWhat[what] = true
	ss.peerMu.Unlock()
	select {
	case ss.peerReady <- struct{}{}:
	default:
	}
}

// forwardPeerChanges delivers queued changes to the program. Changes that
// pile up while the program is busy coalesce: "" (everything) stands for
// all of them.
func (ss *sshSession) forwardPeerChanges() {
	defer ss.helpers.Done()
	for {
		select {
		case <-ss.done:
			return
		case <-ss.peerReady:
		}
		ss.peerMu.Lock()
		whats := make([]DataKind, 0, len(ss.peerWhat))
		for w := range ss.peerWhat {
			whats = append(whats, w)
		}
		clear(ss.peerWhat)
		ss.peerMu.Unlock()
		if len(whats) > 1 && slices.Contains(whats, AllData) {
			whats = []DataKind{AllData}
		}
		for _, w := range whats {
			ss.prog.Send(peerChangedMsg{what: w})
		}
	}
}

// filter sees every message before the App: it notes input for the idle
// timeout, shares this session's changes with the others, and turns the
// others' changes into the DataChangedMsg the screens know.
func (ss *sshSession) filter(_ tea.Model, msg tea.Msg) tea.Msg {
	if hook := ss.srv.onMsg; hook != nil {
		hook(ss.user, msg)
	}
	switch m := msg.(type) {
	case tea.KeyPressMsg, tea.PasteMsg, tea.WindowSizeMsg:
		ss.touch()
	case DataChangedMsg:
		ss.srv.broadcast(ss, m.What)
	case peerChangedMsg:
		return DataChangedMsg{What: m.what}
	case tea.SuspendMsg:
		// There is no shell to return to over SSH (MakeOptions' own filter,
		// which this one replaces, does the same).
		return tea.ResumeMsg{}
	}
	return msg
}

func (ss *sshSession) touch() { ss.lastInput.Store(time.Now().UnixNano()) }

// checkIdle ends the session after IdleTimeout without input, or looks
// again when that time is up.
func (ss *sshSession) checkIdle() {
	ss.idleMu.Lock()
	defer ss.idleMu.Unlock()
	if ss.idle == nil {
		return
	}
	d := ss.srv.cfg.IdleTimeout
	quiet := time.Since(time.Unix(0, ss.lastInput.Load()))
	if quiet >= d {
		ss.end(endIdle)
		return
	}
	ss.idle.Reset(d - quiet)
}

// farewell is what the person reads after the program has left the
// screen, or "" when they quit themselves.
func (ss *sshSession) farewell(reason endReason) string {
	var text string
	switch reason {
	case endIdle:
		text = fmt.Sprintf("Disconnected after %s without input. Connect again to carry on.", ss.srv.cfg.IdleTimeout)
	case endShutdown:
		text = "The tui server is shutting down. Connect again once it is back."
	case endPanic:
		text = "Something went wrong in this session and it was ended (the server logged it; other sessions are unaffected). Connect again to carry on."
	default:
		return ""
	}
	if where := ss.unsavedWhere(); where != "" {
		text += " Your unsaved changes in " + where + " were not saved."
	}
	return termsafe.Text(text) // where names a campaign
}

// unsavedWhere names the form whose typing was lost, if any. The program
// has returned, so reading the App is safe.
func (ss *sshSession) unsavedWhere() string {
	for _, scr := range ss.app.screens {
		if u, ok := scr.(unsavedChanger); ok && u.HasUnsavedChanges() {
			return strings.Join(scr.Breadcrumb(), " › ")
		}
	}
	return ""
}
