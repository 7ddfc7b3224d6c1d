package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FormatError renders err the way kubectl prints errors, one or more lines
// ending in a newline; joined errors (errors.Join) are rendered one after
// the other. API errors (metav1.Status) read `Error from server (Reason):
// message`, or for validation failures `The Kind "name" is invalid:` with
// the field errors; anything else reads `error: message`.
func FormatError(err error) string {
	var b strings.Builder
	for _, e := range flatten(err) {
		msg := formatOne(e)
		b.WriteString(msg)
		if !strings.HasSuffix(msg, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// flatten returns the leaves of a tree of joined errors.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

func formatOne(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return formatStatus(st.Status(), err.Error())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if strings.Contains(ue.Err.Error(), "connection refused") {
			host := ue.URL
			if u, perr := url.Parse(ue.URL); perr == nil {
				host = u.Host
			}
			return fmt.Sprintf("The connection to the server %s was refused - did you specify the right host or port?", host)
		}
		return fmt.Sprintf("Unable to connect to the server: %v", ue.Err)
	}
	return "error: " + err.Error()
}

// formatStatus follows kubectl's cmdutil.CheckErr. message is the error's
// text, which may carry context around the status message.
func formatStatus(st metav1.Status, message string) string {
	switch {
	case st.Reason == metav1.StatusReasonInvalid && st.Details != nil && (st.Details.Kind != "" || st.Details.Name != ""):
		return invalidMessage(st.Details)
	case st.Reason == metav1.StatusReasonUnauthorized:
		return fmt.Sprintf("error: You must be logged in to the server (%s)", message)
	case st.Reason != "":
		return fmt.Sprintf("Error from server (%s): %s", st.Reason, message)
	default:
		return "Error from server: " + message
	}
}

// invalidMessage lists the field errors of a validation failure: on one
// line for one error, as a bulleted list for more.
func invalidMessage(d *metav1.StatusDetails) string {
	head := fmt.Sprintf("The %s %q is invalid", d.Kind, d.Name)
	var causes []string
	seen := map[string]bool{}
	for _, c := range d.Causes {
		msg := c.Message
		if c.Field != "" {
			msg = c.Field + ": " + c.Message
		}
		if !seen[msg] {
			seen[msg] = true
			causes = append(causes, msg)
		}
	}
	switch len(causes) {
	case 0:
		return head
	case 1:
		return head + ": " + causes[0]
	}
	return head + ":\n* " + strings.Join(causes, "\n* ") + "\n"
}

// addSource puts the operation and the manifest an object came from in
// front of an error's message, keeping API errors API errors (kubectl's
// AddSourceToErr): `error when creating "web.yaml": ...`.
func addSource(verb, source string, err error) error {
	if source == "" {
		return err
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		status := st.Status()
		status.Message = fmt.Sprintf("error when %s %q: %s", verb, source, status.Message)
		return &apierrors.StatusError{ErrStatus: status}
	}
	return fmt.Errorf("error when %s %q: %w", verb, source, err)
}
