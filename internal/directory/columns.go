package directory

import (
	"fmt"
	"strings"
)

// fileKind tells which extraction a file is, found from its header.
type fileKind int

const (
	kindUnknown   fileKind = iota
	kindActivity           // PS_LibreAcces_Personne_activite
	kindSkills             // PS_LibreAcces_SavoirFaire
	kindMailboxes          // Extraction_Correspondance_MSSante
	kindDiplomas           // PS_LibreAcces_Dipl_AutExerc: not used, skipped
)

func (k fileKind) String() string {
	switch k {
	case kindActivity:
		return "PS_LibreAcces_Personne_activite"
	case kindSkills:
		return "PS_LibreAcces_SavoirFaire"
	case kindMailboxes:
		return "Extraction_Correspondance_MSSante"
	case kindDiplomas:
		return "PS_LibreAcces_Dipl_AutExerc"
	}
	return "unknown"
}

// field is a column the importer reads, whatever its position and spelling.
type field int

const (
	fIDType field = iota
	fID
	fIDNat
	fCivility
	fCivilityLabel
	fLastName
	fFirstName
	fProfession
	fProfessionLabel
	fSkillType
	fSkill
	fSkillLabel
	fStructID
	fSIRET
	fFINESS
	fOrganisation
	fBrand
	fService
	fNumber
	fRepeat
	fStreetType
	fStreet
	fLocality
	fDelivery
	fPostcode
	fCity
	fDepartment
	fMailboxKind
	fMailbox
	fDematerialised
	numFields
)

// spellings lists, for each field, the header names it is known under in the
// published files (ANS spellings vary between extractions and mirrors). Headers
// are compared folded and without spaces, so case, accents and punctuation do not
// matter.
var spellings = [numFields][]string{
	fIDType:          {"Type d'identifiant PP", "Type identifiant PP"},
	fID:              {"Identifiant PP"},
	fIDNat:           {"Identification nationale PP"},
	fCivility:        {"Code civilité d'exercice", "Code civilité exercice", "Civilité d'exercice"},
	fCivilityLabel:   {"Libellé civilité d'exercice", "Libellé civilité exercice"},
	fLastName:        {"Nom d'exercice"},
	fFirstName:       {"Prénom d'exercice"},
	fProfession:      {"Code profession"},
	fProfessionLabel: {"Libellé profession"},
	fSkillType:       {"Code type savoir-faire"},
	fSkill:           {"Code savoir-faire"},
	fSkillLabel:      {"Libellé savoir-faire"},
	fStructID:        {"Identifiant technique de la structure", "Identification Structure"},
	fSIRET:           {"Numéro SIRET site"},
	fFINESS:          {"Numéro FINESS site"},
	fOrganisation:    structure("Raison sociale site", "Raison sociale"),
	fBrand:           structure("Enseigne commerciale site", "Enseigne commerciale"),
	fService:         {"Service de rattachement"},
	fNumber:          structure("Numéro Voie", "L4NUMEROVOIE"),
	fRepeat:          structure("Indice répétition voie", "L4COMPLEMENTNUMEROVOIE"),
	fStreetType:      structure("Libellé type de voie", "NL4TYPEVOIE"),
	fStreet:          structure("Libellé Voie", "L4LIBELLEVOIE"),
	fLocality:        structure("Mention distribution", "L5LIEUDITMENTION"),
	fDelivery:        structure("Bureau cedex", "L6LIGNEACHEMINEMENT"),
	fPostcode:        structure("Code postal"),
	fCity:            structure("Libellé commune"),
	fDepartment:      structure("Code Département", "Code département", "Département"),
	fMailboxKind:     {"Type de BAL"},
	fMailbox:         {"Adresse BAL"},
	fDematerialised:  {"Dématérialisation"},
}

// structure returns each name as published bare, with the PS_LibreAcces suffix
// "(coord. structure)" or "(structure)", and with the MSSanté suffix
// "structure BAL".
func structure(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n, n+" (coord. structure)", n+" (structure)", n+" structure BAL")
	}
	return out
}

// required lists, per kind of file, the fields without which its rows mean
// nothing.
var required = map[fileKind][]field{
	kindActivity:  {fIDNat, fLastName, fProfession},
	kindSkills:    {fIDNat, fSkill},
	kindMailboxes: {fMailboxKind, fMailbox},
}

// headerKey folds a column name for comparison: "Code postal (coord. structure)"
// becomes "codepostalcoordstructure".
func headerKey(name string) string {
	return strings.ReplaceAll(fold(name), " ", "")
}

// columns maps the fields of one file to their positions.
type columns struct {
	kind  fileKind
	count int            // number of columns in the header
	pos   [numFields]int // position of each field, -1 when absent
}

// parseHeader reads a header line: which file it is and where each field is.
func parseHeader(line string) (*columns, error) {
	names := splitFields(nil, line)
	c := &columns{count: len(names)}
	for i := range c.pos {
		c.pos[i] = -1
	}
	byKey := make(map[string]field)
	for f, names := range spellings {
		for _, n := range names {
			byKey[headerKey(n)] = field(f)
		}
	}
	keys := make(map[string]bool, len(names))
	for i, n := range names {
		k := headerKey(n)
		keys[k] = true
		if f, ok := byKey[k]; ok && c.pos[f] < 0 {
			c.pos[f] = i
		}
	}
	switch {
	case keys["adressebal"]:
		c.kind = kindMailboxes
	case keys["raisonsocialesite"] || keys["codemodeexercice"] || keys["codepostalcoordstructure"]:
		c.kind = kindActivity
	case keys["codesavoirfaire"]:
		c.kind = kindSkills
	case keys["codetypediplomeobtenu"] || keys["codetypeautorisation"]:
		c.kind = kindDiplomas
		return c, nil
	default:
		return nil, fmt.Errorf("header names none of the columns of PS_LibreAcces or Extraction_Correspondance_MSSante (is the separator '|'?)")
	}
	var missing []string
	for _, f := range required[c.kind] {
		if c.pos[f] < 0 {
			missing = append(missing, fmt.Sprintf("%q", spellings[f][0]))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s header lacks column %s", c.kind, strings.Join(missing, ", "))
	}
	return c, nil
}

// record is one split line of a file, read through its columns.
type record struct {
	cols   *columns
	fields []string
}

// get returns the trimmed value of f, "" when the file has no such column.
func (r record) get(f field) string {
	i := r.cols.pos[f]
	if i < 0 || i >= len(r.fields) {
		return ""
	}
	return strings.TrimSpace(r.fields[i])
}
