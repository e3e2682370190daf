package directory

import (
	"strings"
)

// Origins of a staged row.
const (
	originMailbox  = 'm' // a row of Extraction_Correspondance_MSSante
	originActivity = 'p' // a row of PS_LibreAcces_Personne_activite
)

// stageRow is an entry read from a file on its way to the database.
type stageRow struct {
	src     int64 // where it was read: file number << 32 | line number
	origin  byte
	e       Entry
	cityKey string
	toks    string
	names   string
	rank    int64
}

// skillRow is a row of PS_LibreAcces_SavoirFaire: one skill of a practitioner.
type skillRow struct {
	src   int64
	idnat string
	kind  string // S spécialité ordinale, C compétence, CAPA capacité…
	code  string
	label string
}

// activityRow turns a PS_LibreAcces_Personne_activite row into an entry: the
// practitioner at one place of activity. It returns why the row is rejected, or "".
func activityRow(r record) (stageRow, string) {
	e := person(r)
	if e.NationalID == "" {
		return stageRow{}, "no national id (Identification nationale PP)"
	}
	e.City = r.get(fCity)
	if e.Civility == "" {
		e.Civility = r.get(fCivilityLabel)
	}
	if e.LastName == "" {
		return stageRow{}, "no name (Nom d'exercice)"
	}
	fillPlace(&e, r)
	site := firstOf(r.get(fStructID), r.get(fSIRET), r.get(fFINESS))
	if site == "" && e.Organisation != "" {
		site = headerKey(e.Organisation + " " + e.Postcode)
	}
	e.ID = "p:" + e.NationalID + ":" + site
	return finish(originActivity, e), ""
}

// mailboxRow turns an Extraction_Correspondance_MSSante row into an entry: one
// mailbox with its owner and place.
func mailboxRow(r record) (stageRow, string) {
	kind := MailboxKind(strings.ToUpper(r.get(fMailboxKind)))
	if !validKind(kind) {
		return stageRow{}, "unknown mailbox type (Type de BAL): want PER, ORG, APP or CAB"
	}
	addr := strings.ToLower(r.get(fMailbox))
	if at := strings.IndexByte(addr, '@'); at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " ,;<>") {
		return stageRow{}, "mailbox address (Adresse BAL) is not an e-mail address"
	}
	e := person(r)
	e.ID = "m:" + addr
	e.Service = r.get(fService)
	e.Mailbox, e.MailboxKind = addr, kind
	e.Dematerialised = isTrue(r.get(fDematerialised))
	fillPlace(&e, r)
	return finish(originMailbox, e), ""
}

// person reads what both national files say alike of a professional and
// their place: identity, profession, organisation, street and postcode.
func person(r record) Entry {
	idnat := r.get(fIDNat)
	if idnat == "" {
		idnat = r.get(fIDType) + r.get(fID)
	}
	return Entry{
		NationalID:      idnat,
		Civility:        r.get(fCivility),
		LastName:        r.get(fLastName),
		FirstName:       r.get(fFirstName),
		Profession:      r.get(fProfession),
		ProfessionLabel: r.get(fProfessionLabel),
		Specialty:       r.get(fSkill),
		SpecialtyLabel:  r.get(fSkillLabel),
		Organisation:    firstOf(r.get(fOrganisation), r.get(fBrand)),
		Address:         joinNonEmpty(r.get(fNumber), r.get(fRepeat), r.get(fStreetType), r.get(fStreet)),
		Postcode:        r.get(fPostcode),
	}
}

// skill turns a PS_LibreAcces_SavoirFaire row into a skill.
func skill(r record) (skillRow, string) {
	s := skillRow{idnat: r.get(fIDNat), kind: r.get(fSkillType), code: r.get(fSkill), label: r.get(fSkillLabel)}
	if s.idnat == "" {
		return s, "no national id (Identification nationale PP)"
	}
	if s.code == "" {
		return s, "no skill code (Code savoir-faire)"
	}
	return s, ""
}

// fillPlace completes the postcode, city and département from the delivery line
// ("69003 LYON CEDEX 03") when their own columns are empty.
func fillPlace(e *Entry, r record) {
	postcode, city := splitDelivery(r.get(fDelivery))
	if e.Postcode == "" {
		e.Postcode = postcode
	}
	if e.City == "" {
		e.City = city
	}
	e.Department = Department(e.Postcode)
	if d := r.get(fDepartment); e.Department == "" && len(d) <= 3 {
		e.Department = strings.ToUpper(d)
	}
}

// splitDelivery splits a French delivery line into its postcode and its city
// without any CEDEX mention.
func splitDelivery(s string) (postcode, city string) {
	f := strings.Fields(s)
	if len(f) > 0 && len(f[0]) == 5 && strings.Trim(f[0], "0123456789") == "" {
		postcode, f = f[0], f[1:]
	}
	for i, w := range f {
		if strings.EqualFold(w, "cedex") {
			f = f[:i]
			break
		}
	}
	return postcode, strings.Join(f, " ")
}

// finish computes what the index needs from an entry.
func finish(origin byte, e Entry) stageRow {
	names, orgs := e.tokens()
	return stageRow{
		origin:  origin,
		e:       e,
		cityKey: cityKey(e.City),
		toks:    tokenList(names, orgs),
		names:   " " + strings.Join(names, " ") + " ",
		rank:    rankOf(firstOf(e.LastName, e.Organisation), e.FirstName),
	}
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func joinNonEmpty(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "1", "oui", "o", "yes", "vrai":
		return true
	}
	return false
}
