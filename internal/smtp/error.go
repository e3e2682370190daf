package smtp

import (
	"errors"
	"fmt"

	gosmtp "github.com/emersion/go-smtp"
)

// Error is an SMTP failure as a value: the reply code and enhanced status
// code to send or that was received, a short text safe to show the client,
// and the cause for logs. The doors turn it into a reply; the queue reads it
// to decide between a retry and a DSN.
//
// Message and Err never carry health data: no subject, body or attachment
// name.
type Error struct {
	// Code is the RFC 5321 §4.2 reply code, 4xx or 5xx.
	Code int
	// Enhanced is the RFC 3463 status code: class, subject, detail.
	Enhanced [3]int
	// Message is the reply text, without codes.
	Message string
	// Remote names the host that gave this reply, empty when we made it up.
	Remote string
	// Err is the cause, for logs only; it is never sent to a client.
	Err error
}

// Error returns the reply as it reads on the wire, followed by the cause.
func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s %s", e.Code, e.Status(), e.Message)
	if e.Remote != "" {
		s = e.Remote + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the failure is transient (a 4xx reply), so that
// the client or the queue should try again later. RFC 5321 §4.2.1.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// Status returns the enhanced status code in its dotted form, "5.1.1".
func (e *Error) Status() string {
	return fmt.Sprintf("%d.%d.%d", e.Enhanced[0], e.Enhanced[1], e.Enhanced[2])
}

// AsError returns err as an *Error. An error that is not one becomes a
// temporary local failure (451 4.3.0), so that an unexpected fault never
// turns into a permanent bounce and its text never reaches a client.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ge *gosmtp.SMTPError
	if errors.As(err, &ge) {
		return fromReply(ge, "")
	}
	// RFC 3463 §3.4: 4.3.0, other or undefined mail system status.
	return &Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Local error, try again later", Err: err}
}

// reply turns e into the go-smtp value its server writes as a reply.
func (e *Error) reply() *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: e.Code, EnhancedCode: gosmtp.EnhancedCode(e.Enhanced), Message: e.Message}
}

// fromReply turns a reply received from remote into an *Error. A reply
// without an enhanced code gets the generic one of its class (RFC 3463 §3.1).
func fromReply(r *gosmtp.SMTPError, remote string) *Error {
	enh := [3]int(r.EnhancedCode)
	if enh[0] != r.Code/100 {
		enh = [3]int{r.Code / 100, 0, 0}
	}
	code := r.Code
	if code/100 != 4 && code/100 != 5 {
		// A reply that is neither 4xx nor 5xx where one was expected is a
		// protocol error: try again later rather than bounce.
		code, enh = 451, [3]int{4, 5, 0}
	}
	return &Error{Code: code, Enhanced: enh, Message: r.Message, Remote: remote}
}
