package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"caduceus/internal/autoconfig"
	"caduceus/internal/core"
	"caduceus/internal/server"
)

// deviceJSON is a device as `device add --json` and `device list --json`
// print it.
type deviceJSON struct {
	ID         int64                `json:"id"`
	Name       string               `json:"name"`
	Address    string               `json:"address"`
	Created    time.Time            `json:"created"`
	LastUsed   *time.Time           `json:"last_used,omitempty"`
	LastRemote string               `json:"last_remote,omitempty"`
	Credential string               `json:"credential,omitempty"`
	Settings   *autoconfig.Settings `json:"settings,omitempty"`
}

func toDeviceJSON(address string, d core.Device) deviceJSON {
	j := deviceJSON{ID: d.ID, Name: d.Name, Address: address, Created: d.Created.UTC(), LastRemote: d.LastRemote}
	if !d.LastUsed.IsZero() {
		t := d.LastUsed.UTC()
		j.LastUsed = &t
	}
	return j
}

func cmdDeviceAdd(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "device add", `device add ADDR --name "NAME" [--json]`, 1)
	name := f.String("name", "", "what the device is, e.g. \"iPhone de garde\" (required)")
	asJSON := f.Bool("json", false, `print {"id":…,"credential":…,"settings":{…}}`)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		d, token, err := n.Core.AddDevice(ctx, cli, pos[0], *name)
		if err != nil {
			return err
		}
		acct, err := n.Core.Account(ctx, d.AccountID)
		if err != nil {
			return err
		}
		st := server.MailSettings(n.Config)
		if *asJSON {
			j := toDeviceJSON(acct.Address, d)
			j.Credential, j.Settings = token, &st
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(j)
		}
		fmt.Fprintf(e.stdout, "device %d %q added for %s\n\n", d.ID, d.Name, acct.Address)
		fmt.Fprintf(e.stdout, "credential (shown this once; type it in the device as its password):\n  %s\n\n", token)
		fmt.Fprintf(e.stdout, "user name:  %s\n", acct.Address)
		fmt.Fprintf(e.stdout, "IMAP:       %s port %d (%s)\n", st.IMAP.Host, st.IMAP.Port, security(st.IMAP))
		fmt.Fprintf(e.stdout, "SMTP:       %s port %d (%s)\n", st.SMTP.Host, st.SMTP.Port, security(st.SMTP))
		return nil
	})
}

func security(ep autoconfig.Endpoint) string {
	if ep.TLS {
		return "SSL/TLS"
	}
	return "STARTTLS"
}

func cmdDeviceList(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "device list", "device list ADDR [--json]", 1)
	asJSON := f.Bool("json", false, `print [{"id":…,"name":…,"last_used":…}]`)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		acct, err := n.Core.User(ctx, pos[0])
		if err != nil {
			return err
		}
		ds, err := n.Core.Devices(ctx, cli, acct.Address)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]deviceJSON, 0, len(ds))
			for _, d := range ds {
				out = append(out, toDeviceJSON(acct.Address, d))
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tADDED\tLAST USED\tFROM")
		for _, d := range ds {
			used := "never"
			if !d.LastUsed.IsZero() {
				used = d.LastUsed.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Created.UTC().Format(time.DateOnly), used, d.LastRemote)
		}
		return tw.Flush()
	})
}

func cmdDeviceRevoke(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "device revoke", "device revoke ADDR ID", 2)
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		id, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil {
			return fmt.Errorf("device id %q: want a number (caduceus device list %s)", pos[1], pos[0])
		}
		if err := n.Core.RevokeDevice(ctx, cli, pos[0], id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %d revoked: its credential no longer works and its connections are closed\n", id)
		return nil
	})
}

func cmdMailboxCert(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "mailbox cert", "mailbox cert ADDR --add FILE.pem | --list | --remove FINGERPRINT", 1)
	add := f.String("add", "", "pin the client certificate in this PEM file to the mailbox")
	list := f.Bool("list", false, "list the certificates pinned to the mailbox")
	remove := f.String("remove", "", "unpin the certificate with this SHA-256 fingerprint")
	return withNode(ctx, f, args, func(n *server.Node, pos []string) error {
		set := 0
		for _, on := range []bool{*add != "", *list, *remove != ""} {
			if on {
				set++
			}
		}
		if set != 1 {
			return errors.New("give one of --add FILE.pem, --list or --remove FINGERPRINT")
		}
		switch {
		case *add != "":
			cert, err := readCertificate(*add)
			if err != nil {
				return err
			}
			mc, err := n.Core.AddMailboxCert(ctx, cli, pos[0], cert)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "certificate %s pinned to %s\n  subject %s, valid until %s\n  log in with SASL EXTERNAL over IMAP or submission, presenting it as TLS client certificate\n",
				mc.Fingerprint, pos[0], mc.Subject, mc.NotAfter.UTC().Format(time.DateOnly))
		case *remove != "":
			if err := n.Core.RemoveMailboxCert(ctx, cli, pos[0], *remove); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "certificate %s unpinned from %s\n", *remove, pos[0])
		default:
			cs, err := n.Core.MailboxCerts(ctx, cli, pos[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FINGERPRINT (SHA-256)\tSUBJECT\tNOT AFTER\tLAST USED")
			for _, c := range cs {
				used := "never"
				if !c.LastUsed.IsZero() {
					used = c.LastUsed.UTC().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Fingerprint, c.Subject, c.NotAfter.UTC().Format(time.DateOnly), used)
			}
			return tw.Flush()
		}
		return nil
	})
}

// readCertificate reads the first certificate of a PEM file.
func readCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%s: no CERTIFICATE block in the PEM file", path)
		}
		if b.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return cert, nil
		}
	}
}
