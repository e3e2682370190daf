package managesieve

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"caduceus/internal/core"
)

// command runs one command and reports whether the session goes on.
func (c *conn) command(name string, args []arg) bool {
	switch name {
	case "CAPABILITY":
		if !c.want(args, 0) {
			return true
		}
		c.capabilities()
		c.reply("OK", "", "Capability completed")
	case "NOOP":
		// RFC 5804 §2.13: an optional tag is echoed back.
		if len(args) == 1 && args[0].string {
			c.reply("OK", "TAG "+quote(args[0].text), "Done")
		} else if c.want(args, 0) {
			c.reply("OK", "", "Done")
		}
	case "LOGOUT":
		c.reply("OK", "", "Logout completed")
		return false
	case "STARTTLS":
		return c.startTLS(args)
	case "AUTHENTICATE":
		return c.authenticate(args)
	case "LISTSCRIPTS", "GETSCRIPT", "PUTSCRIPT", "CHECKSCRIPT", "SETACTIVE", "DELETESCRIPT", "RENAMESCRIPT", "HAVESPACE":
		if c.actor.AccountID == 0 {
			c.reply("NO", "", "Log in first (AUTHENTICATE)")
			return true
		}
		c.scripts(name, args)
	default:
		c.reply("NO", "", fmt.Sprintf("Unknown command %s", name))
	}
	return true
}

// want checks that a command has n string arguments.
func (c *conn) want(args []arg, n int) bool {
	if len(args) != n {
		c.reply("NO", "", fmt.Sprintf("Expected %d argument(s), got %d", n, len(args)))
		return false
	}
	for _, a := range args {
		if !a.string {
			c.reply("NO", "", fmt.Sprintf("Expected a string, got %q", a.text))
			return false
		}
	}
	return true
}

// startTLS upgrades the connection (RFC 5804 §2.2) and gives the
// capabilities again.
func (c *conn) startTLS(args []arg) bool {
	if !c.want(args, 0) {
		return true
	}
	if c.tls || c.srv.opts.TLS == nil {
		c.reply("NO", "", "TLS is not available here")
		return true
	}
	c.reply("OK", "", "Begin TLS negotiation now")
	if c.flush() != nil {
		return false
	}
	if c.r.Buffered() > 0 {
		return false // RFC 5804 §2.2: nothing may follow STARTTLS before the handshake
	}
	c.mu.Lock()
	tc := tls.Server(c.nc, c.srv.opts.TLS)
	c.nc = tc
	c.mu.Unlock()
	if err := tc.HandshakeContext(c.ctx()); err != nil {
		c.srv.log.Info("TLS handshake failed", "remote", c.ip, "err", err)
		return false
	}
	c.tls = true
	c.r, c.w = bufio.NewReader(tc), bufio.NewWriter(tc)
	c.capabilities()
	c.reply("OK", "", "TLS active")
	return true
}

// authenticate runs SASL PLAIN (RFC 4616) through the core's login.
func (c *conn) authenticate(args []arg) bool {
	switch {
	case c.actor.AccountID != 0:
		c.reply("NO", "", "Already logged in")
		return true
	case !c.tls:
		c.reply("NO", "ENCRYPT-NEEDED", "Use STARTTLS before logging in")
		return true
	case len(args) < 1 || len(args) > 2 || !args[0].string:
		c.reply("NO", "", `Usage: AUTHENTICATE "PLAIN" ["initial response"]`)
		return true
	case !strings.EqualFold(args[0].text, "PLAIN"):
		c.reply("NO", "", fmt.Sprintf("Mechanism %s is not supported: use PLAIN", args[0].text))
		return true
	}
	var resp string
	if len(args) == 2 {
		resp = args[1].text
	} else {
		c.w.WriteString("\"\"\r\n")
		if c.flush() != nil {
			return false
		}
		in, err := c.readCommand()
		if err != nil {
			return false
		}
		if len(in) != 1 || !in[0].string {
			c.reply("NO", "", "Authentication cancelled")
			return true
		}
		resp = in[0].text
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		c.reply("NO", "", "Malformed PLAIN response")
		return c.failed()
	}
	authz, user, secret := parts[0], parts[1], parts[2]
	actor, err := c.srv.svc.MailLogin(c.ctx(), core.MailCredentials{Door: "managesieve", Remote: c.ip, Mechanism: "PLAIN", Username: user, Secret: secret})
	switch {
	case errors.Is(err, core.ErrTooManyAttempts):
		c.reply("NO", "TRYLATER", "Too many failed attempts, try again later")
		return c.failed()
	case errors.Is(err, core.ErrDeviceRequired):
		c.reply("NO", "AUTH-TOO-WEAK", err.Error())
		return c.failed()
	case err != nil:
		c.reply("NO", "", "Authentication failed")
		return c.failed()
	}
	target := actor.Address
	if authz != "" {
		target = authz
	}
	mb, err := c.srv.svc.MailboxByAddress(c.ctx(), actor, target)
	if err == nil {
		_, err = c.srv.svc.SieveScripts(c.ctx(), actor, mb.ID)
	}
	if err != nil {
		c.reply("NO", "", fmt.Sprintf("You may not manage the filters of %s", target))
		return c.failed()
	}
	c.actor, c.mailbox = actor, mb.ID
	c.reply("OK", "", "Logged in")
	return true
}

// failed counts a failed login and ends the connection after too many.
func (c *conn) failed() bool {
	c.failures++
	if c.failures >= maxAuthFailures {
		c.reply("BYE", "", "Too many failed logins")
		return false
	}
	return true
}

// scripts runs the commands on scripts (RFC 5804 §2.5 to §2.12).
func (c *conn) scripts(name string, args []arg) {
	ctx, svc, actor, mb := c.ctx(), c.srv.svc, c.actor, c.mailbox
	switch name {
	case "LISTSCRIPTS":
		if !c.want(args, 0) {
			return
		}
		list, err := svc.SieveScripts(ctx, actor, mb)
		if err != nil {
			c.fail(err)
			return
		}
		for _, sc := range list {
			c.w.WriteString(quote(sc.Name))
			if sc.Active {
				c.w.WriteString(" ACTIVE")
			}
			c.w.WriteString("\r\n")
		}
		c.reply("OK", "", "Listscripts completed")
	case "GETSCRIPT":
		if !c.want(args, 1) {
			return
		}
		sc, err := svc.SieveScript(ctx, actor, mb, args[0].text)
		if err != nil {
			c.fail(err)
			return
		}
		fmt.Fprintf(c.w, "{%d}\r\n%s\r\n", len(sc.Content), sc.Content)
		c.reply("OK", "", "Getscript completed")
	case "PUTSCRIPT":
		if !c.want(args, 2) {
			return
		}
		if err := svc.PutSieveScript(ctx, actor, mb, args[0].text, args[1].text); err != nil {
			c.fail(err)
			return
		}
		c.reply("OK", "", "Putscript completed")
	case "CHECKSCRIPT":
		if !c.want(args, 1) {
			return
		}
		if err := core.CheckSieveScript(args[0].text); err != nil {
			c.fail(err)
			return
		}
		c.reply("OK", "", "Script is valid")
	case "SETACTIVE":
		if !c.want(args, 1) {
			return
		}
		if err := svc.ActivateSieveScript(ctx, actor, mb, args[0].text); err != nil {
			c.fail(err)
			return
		}
		c.reply("OK", "", "Setactive completed")
	case "DELETESCRIPT":
		if !c.want(args, 1) {
			return
		}
		if err := svc.DeleteSieveScript(ctx, actor, mb, args[0].text); err != nil {
			c.fail(err)
			return
		}
		c.reply("OK", "", "Deletescript completed")
	case "RENAMESCRIPT":
		if !c.want(args, 2) {
			return
		}
		if err := svc.RenameSieveScript(ctx, actor, mb, args[0].text, args[1].text); err != nil {
			c.fail(err)
			return
		}
		c.reply("OK", "", "Renamescript completed")
	case "HAVESPACE":
		if len(args) != 2 || !args[0].string || args[1].string {
			c.reply("NO", "", "Usage: HAVESPACE name size")
			return
		}
		size, err := strconv.ParseInt(args[1].text, 10, 64)
		if err != nil || size < 0 {
			c.reply("NO", "", fmt.Sprintf("Bad size %q", args[1].text))
			return
		}
		if err := svc.SieveSpace(ctx, actor, mb, args[0].text, size); err != nil {
			c.fail(err)
			return
		}
		c.reply("OK", "", "Putscript would succeed")
	}
}

// fail answers NO for a core error, with the response code RFC 5804 §1.3
// gives it and a text a person can act on.
func (c *conn) fail(err error) {
	msg := strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": ")
	switch {
	case errors.Is(err, core.ErrNotFound):
		c.reply("NO", "NONEXISTENT", msg)
	case errors.Is(err, core.ErrSieveActive):
		c.reply("NO", "ACTIVE", "You may not delete the active script: activate another first")
	case errors.Is(err, core.ErrExists):
		c.reply("NO", "ALREADYEXISTS", msg)
	case errors.Is(err, core.ErrQuota) && strings.Contains(msg, "bytes"):
		c.reply("NO", "QUOTA/MAXSIZE", msg)
	case errors.Is(err, core.ErrQuota):
		c.reply("NO", "QUOTA/MAXSCRIPTS", msg)
	case errors.Is(err, core.ErrInvalid):
		c.reply("NO", "", msg)
	case errors.Is(err, core.ErrPermission):
		c.reply("NO", "", "Permission denied")
	default:
		c.srv.log.Error("managesieve command failed", "remote", c.ip, "err", err)
		c.reply("NO", "TRYLATER", "Internal error, try again later")
	}
}
