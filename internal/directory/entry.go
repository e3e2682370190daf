package directory

// MailboxKind is the type of an MSSanté mailbox (TRE_R257-TypeBAL).
type MailboxKind string

// The mailbox types of the MSSanté directory; an entry without a mailbox has
// KindNone.
const (
	KindNone         MailboxKind = ""
	KindPersonal     MailboxKind = "PER" // a person's own mailbox
	KindOrganisation MailboxKind = "ORG" // a service or team of a legal entity
	KindApplication  MailboxKind = "APP" // used by software
	KindPractice     MailboxKind = "CAB" // a practice (cabinet)
)

// validKind reports whether k is one of the MSSanté mailbox types.
func validKind(k MailboxKind) bool {
	switch k {
	case KindPersonal, KindOrganisation, KindApplication, KindPractice:
		return true
	}
	return false
}

// Entry is one line of the directory: a practitioner at a place of activity, a
// mailbox with its owner, or a local account or organisational mailbox.
type Entry struct {
	// ID is stable across imports: "m:<mailbox>", "p:<national id>:<structure>"
	// or "l:<local key>".
	ID              string      `json:"id"`
	Local           bool        `json:"local"`
	NationalID      string      `json:"national_id"`
	Civility        string      `json:"civility"`
	LastName        string      `json:"last_name"`
	FirstName       string      `json:"first_name"`
	Profession      string      `json:"profession"`
	ProfessionLabel string      `json:"profession_label"`
	Specialty       string      `json:"specialty"`
	SpecialtyLabel  string      `json:"specialty_label"`
	Organisation    string      `json:"organisation"`
	Service         string      `json:"service"`
	Address         string      `json:"address"`
	Postcode        string      `json:"postcode"`
	City            string      `json:"city"`
	Department      string      `json:"department"`
	Mailbox         string      `json:"mailbox"`
	MailboxKind     MailboxKind `json:"mailbox_kind"`
	// Dematerialised tells that the mailbox accepts documents in place of paper.
	Dematerialised bool `json:"dematerialised"`
	// Favourite is set in search results for the favourites of the searching
	// account.
	Favourite bool `json:"favourite,omitempty"`
}

// tokens returns the words an entry is found by: its names, or for an
// organisational mailbox without a person its organisation and service; and the
// words of its organisation and service.
func (e *Entry) tokens() (names, orgs []string) {
	orgs = orgTokens(e.Organisation + " " + e.Service)
	if e.LastName == "" && e.FirstName == "" {
		return orgs, orgs
	}
	return nameTokens(e.LastName, e.FirstName), orgs
}

// DisplayName is the entry's name as shown in a list: first and last name, or
// the organisation and service of an organisational mailbox.
func (e *Entry) DisplayName() string {
	switch {
	case e.FirstName != "" && e.LastName != "":
		return e.FirstName + " " + e.LastName
	case e.LastName != "":
		return e.LastName
	case e.Service != "" && e.Organisation != "":
		return e.Organisation + " - " + e.Service
	case e.Organisation != "":
		return e.Organisation
	}
	return e.Mailbox
}

// Department derives the département code from a French postcode: "69003" gives
// "69", Corsica "2A" or "2B", overseas "971" to "976"; "" when unknown.
func Department(postcode string) string {
	if len(postcode) != 5 {
		return ""
	}
	for i := range 5 {
		if postcode[i] < '0' || postcode[i] > '9' {
			return ""
		}
	}
	switch {
	case postcode[:2] == "20":
		if postcode < "20200" {
			return "2A"
		}
		return "2B"
	case postcode[:2] == "97", postcode[:2] == "98":
		return postcode[:3]
	}
	return postcode[:2]
}
