// Command caduceus is the whole Caduceus secure messaging service in one binary:
// `caduceus serve` runs a node, `caduceus dev` runs a demo node with no setup,
// and the other commands administer a node's store, while it runs or not.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `Caduceus — secure messaging for health professionals.

Usage:
  caduceus dev [--dir DIR]                 run a demo node (self-signed TLS, demo users)
  caduceus dev outbox [--dir DIR]          list mail the demo node "sent" off the machine
  caduceus serve --config FILE             run a node
  caduceus check [--mailboxes]             verify the store (blobs, counters, audit chain); counts and a hash per mailbox
  caduceus blobs compact [--threshold SHARE] [--grace DURATION]   reclaim the space of expunged messages
  caduceus blobs stats [--json]            segments on disk, live and dead bytes
  caduceus message reindex [--all] [--batch N]   compute the model of messages stored before models were
  caduceus backup DIR                      a consistent copy of the embedded store and blobs, while serving, checked
  caduceus restore DIR                     put a backup back on a node with no data yet (its key file in place), checked
  caduceus migrate --from OLD.toml --to NEW.toml   move an installation (SQLite + files <-> PostgreSQL + S3), resumable, checked

  caduceus domain add|list|remove NAME
  caduceus domain manager DOMAIN [--name NAME --address ADDR --phone PHONE | --clear]
                                           who manages the domain's accounts ("Vos informations Gestionnaire")
  caduceus user add ADDR --name NAME [--password-stdin] [--notify-email ADDR] [--national-id ID]
  caduceus user list | passwd ADDR --password-stdin | disable ADDR | enable ADDR | remove ADDR
  caduceus user role ADDR manager|none --domain DOMAIN   a manager of the domain uses the console at /admin
  caduceus mailbox add ADDR --kind org|app|cab --name NAME [--owner USER]
  caduceus mailbox list | grant ADDR USER RIGHTS | revoke ADDR USER | acl ADDR
  caduceus mailbox stats ADDR [--json]
  caduceus mailbox receipts ADDR ask|always|never   read receipts: ask the reader, send by policy, never offer
  caduceus mailbox cert ADDR --add FILE.pem | --list | --remove FINGERPRINT
                                           client certificates of an application's mailbox (SASL EXTERNAL)
  caduceus device add ADDR --name NAME [--json]
                                           enrol a phone or mail client; prints its credential once
  caduceus device list ADDR [--json] | revoke ADDR ID
  caduceus queue list | retry ID | drop ID
  caduceus dkim add DOMAIN [--selector NAME] | list   DKIM signing keys; prints the DNS TXT record
  caduceus audit list [--actor ADDR] [--action NAME] [--limit N]
  caduceus audit prune [--older-than D]     remove entries older than D (at least a year; default 8760h)
  caduceus audit verify                    check the whole hash chain; names the first entry that breaks it
  caduceus audit export [--since DATE] [--until DATE] [--actor ADDR] [--action NAME] > FILE.csv
  caduceus directory import FILE...         import the public extraction files (.txt or .zip)
  caduceus directory search QUERY [--profession CODE] [--city NAME] [--limit N] [--json]
  caduceus directory synth --rows N [--dir DIR]   write realistic synthetic extraction files
  caduceus bench smtp|imap [flags]         load a running server and print throughput
  caduceus trust show                      the trust space in force: whitelist, its age, CAs, CRLs
  caduceus trust check HOST:PORT [--name N] [--domain D]   connect to a peer as delivery would; what passes, what fails

Every command takes --config FILE right after its words (default: $CADUCEUS_CONFIG,
then ./caduceus-dev/caduceus.toml when present, then /etc/caduceus/caduceus.toml).
Run "caduceus COMMAND --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if errors.Is(err, errHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "caduceus: %v\n", err)
		os.Exit(1)
	}
}

// errHelp ends a command that printed its help.
var errHelp = errors.New("help shown")

// env is what every command reads and writes: no globals.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	words []string
	run   func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{[]string{"serve"}, cmdServe},
		{[]string{"dev", "outbox"}, cmdDevOutbox},
		{[]string{"dev"}, cmdDev},
		{[]string{"check"}, cmdCheck},
		{[]string{"blobs", "compact"}, cmdBlobsCompact},
		{[]string{"blobs", "stats"}, cmdBlobsStats},
		{[]string{"message", "reindex"}, cmdMessageReindex},
		{[]string{"backup"}, cmdBackup},
		{[]string{"restore"}, cmdRestore},
		{[]string{"migrate"}, cmdMigrate},
		{[]string{"domain", "add"}, cmdDomainAdd},
		{[]string{"domain", "list"}, cmdDomainList},
		{[]string{"domain", "remove"}, cmdDomainRemove},
		{[]string{"domain", "manager"}, cmdDomainManager},
		{[]string{"user", "add"}, cmdUserAdd},
		{[]string{"user", "list"}, cmdUserList},
		{[]string{"user", "passwd"}, cmdUserPasswd},
		{[]string{"user", "disable"}, cmdUserDisable},
		{[]string{"user", "enable"}, cmdUserEnable},
		{[]string{"user", "role"}, cmdUserRole},
		{[]string{"user", "remove"}, cmdUserRemove},
		{[]string{"mailbox", "add"}, cmdMailboxAdd},
		{[]string{"mailbox", "list"}, cmdMailboxList},
		{[]string{"mailbox", "grant"}, cmdMailboxGrant},
		{[]string{"mailbox", "revoke"}, cmdMailboxRevoke},
		{[]string{"mailbox", "acl"}, cmdMailboxACL},
		{[]string{"mailbox", "stats"}, cmdMailboxStats},
		{[]string{"mailbox", "receipts"}, cmdMailboxReceipts},
		{[]string{"dkim", "add"}, cmdDKIMAdd},
		{[]string{"dkim", "list"}, cmdDKIMList},
		{[]string{"mailbox", "cert"}, cmdMailboxCert},
		{[]string{"device", "add"}, cmdDeviceAdd},
		{[]string{"device", "list"}, cmdDeviceList},
		{[]string{"device", "revoke"}, cmdDeviceRevoke},
		{[]string{"queue", "list"}, cmdQueueList},
		{[]string{"queue", "retry"}, cmdQueueRetry},
		{[]string{"queue", "drop"}, cmdQueueDrop},
		{[]string{"audit", "list"}, cmdAuditList},
		{[]string{"audit", "prune"}, cmdAuditPrune},
		{[]string{"audit", "verify"}, cmdAuditVerify},
		{[]string{"audit", "export"}, cmdAuditExport},
		{[]string{"bench", "imap"}, cmdBenchIMAP},
		{[]string{"bench", "smtp"}, cmdBenchSMTP},
		{[]string{"trust", "show"}, cmdTrustShow},
		{[]string{"trust", "check"}, cmdTrustCheck},
		{[]string{"directory", "import"}, cmdDirectoryImport},
		{[]string{"directory", "search"}, cmdDirectorySearch},
		{[]string{"directory", "synth"}, cmdDirectorySynth},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return errors.New("a command is required")
		}
		return errHelp
	}
	for _, c := range commands() {
		if len(args) < len(c.words) || !equalWords(args[:len(c.words)], c.words) {
			continue
		}
		if err := c.run(ctx, e, args[len(c.words):]); err != nil {
			if errors.Is(err, errHelp) {
				return err
			}
			return fmt.Errorf("%s: %w", strings.Join(c.words, " "), err)
		}
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
