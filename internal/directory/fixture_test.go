package directory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/store/storetest"
)

// openDirectory opens an empty directory on a fresh store of the engine.
func openDirectory(t testing.TB, engine string) *Directory {
	t.Helper()
	st := storetest.Open(t, engine)
	d, err := Open(context.Background(), st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The older 52-column layout of PS_LibreAcces_Personne_activite, and the
// MSSanté extraction, as published.
var (
	activityColumns = []string{"Type d'identifiant PP", "Identifiant PP", "Identification nationale PP",
		"Code civilité d'exercice", "Libellé civilité d'exercice", "Code civilité", "Libellé civilité",
		"Nom d'exercice", "Prénom d'exercice", "Code profession", "Libellé profession",
		"Code catégorie professionnelle", "Libellé catégorie professionnelle", "Code type savoir-faire",
		"Libellé type savoir-faire", "Code savoir-faire", "Libellé savoir-faire", "Code mode exercice",
		"Libellé mode exercice", "Numéro SIRET site", "Numéro SIREN site", "Numéro FINESS site",
		"Numéro FINESS établissement juridique", "Identifiant technique de la structure",
		"Raison sociale site", "Enseigne commerciale site", "Complément destinataire (coord. structure)",
		"Complément point géographique (coord. structure)", "Numéro Voie (coord. structure)",
		"Indice répétition voie (coord. structure)", "Code type de voie (coord. structure)",
		"Libellé type de voie (coord. structure)", "Libellé Voie (coord. structure)",
		"Mention distribution (coord. structure)", "Bureau cedex (coord. structure)",
		"Code postal (coord. structure)", "Code commune (coord. structure)",
		"Libellé commune (coord. structure)", "Code pays (coord. structure)",
		"Libellé pays (coord. structure)", "Téléphone (coord. structure)",
		"Téléphone 2 (coord. structure)", "Télécopie (coord. structure)",
		"Adresse e-mail (coord. structure)", "Code Département (structure)",
		"Libellé Département (structure)", "Ancien identifiant de la structure",
		"Autorité d'enregistrement", "Code secteur d'activité", "Libellé secteur d'activité",
		"Code section tableau pharmaciens", "Libellé section tableau pharmaciens"}
	skillColumnNames = []string{"Type d'identifiant PP", "Identifiant PP", "Identification nationale PP",
		"Nom d'exercice", "Prénom d'exercice", "Code type savoir-faire", "Libellé type savoir-faire",
		"Code savoir-faire", "Libellé savoir-faire"}
	mailboxColumns = []string{"Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
		"Identification nationale PP", "Type identifiant structure", "Identification Structure",
		"Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
		"Catégorie profession", "Libellé de catégorie profession", "Code Profession",
		"Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
		"Raison Sociale structure BAL", "Enseigne commerciale structure BAL",
		"L2COMPLEMENTLOCALISATION structure BAL", "L3COMPLEMENTDISTRIBUTION structure BAL",
		"L4NUMEROVOIE structure BAL", "L4COMPLEMENTNUMEROVOIE structure BAL",
		"NL4TYPEVOIE structure BAL", "L4LIBELLEVOIE structure BAL", "L5LIEUDITMENTION structure BAL",
		"L6LIGNEACHEMINEMENT structure BAL", "Code postal structure BAL", "Département structure BAL",
		"Pays structure BAL"}
)

// row is one line of a fixture, by column name; columns left out are empty.
type row map[string]string

// extractionText returns a file's text: the header and rows, '|'-separated with
// the trailing '|'.
func extractionText(columns []string, rows ...row) string {
	var b strings.Builder
	b.WriteString(strings.Join(columns, "|") + "|\n")
	for _, r := range rows {
		for _, c := range columns {
			b.WriteString(r[c] + "|")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// writeFile writes content under the test's directory and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testRPPS returns the n-th test RPPS number, with its Luhn key.
func testRPPS(n int) string {
	body := fmt.Sprintf("1%09d", 100+n)
	return body + string(Luhn(body))
}

// practitioner returns an activity row of the n-th test practitioner.
func practitioner(n int, last, first, profession, specialty, structure, org, postcode, city string) row {
	return row{
		"Type d'identifiant PP": "8", "Identifiant PP": testRPPS(n),
		"Identification nationale PP": "8" + testRPPS(n), "Nom d'exercice": last,
		"Prénom d'exercice": first, "Code profession": profession, "Code savoir-faire": specialty,
		"Identifiant technique de la structure": structure, "Raison sociale site": org,
		"Code postal (coord. structure)": postcode, "Libellé commune (coord. structure)": city,
		"Libellé Voie (coord. structure)": "RUE DES LILAS", "Code mode exercice": "L",
	}
}

// mailbox returns an MSSanté row.
func mailbox(kind, address string, n int, last, first, profession, org, service, postcode, city string) row {
	r := row{"Type de BAL": kind, "Adresse BAL": address, "Nom d'exercice": last,
		"Prénom d'exercice": first, "Code Profession": profession, "Raison Sociale structure BAL": org,
		"Service de rattachement": service, "Code postal structure BAL": postcode,
		"L6LIGNEACHEMINEMENT structure BAL": postcode + " " + city, "Dématérialisation": "True"}
	if n > 0 {
		r["Type Identifiant PP"], r["Identifiant PP"] = "8", testRPPS(n)
		r["Identification nationale PP"] = "8" + testRPPS(n)
	}
	return r
}

// Test practitioners and mailboxes: accents, compound names, neighbours in
// spelling, a practitioner listed through their mailbox, one with two places.
func activityRows() []row {
	return []row{
		practitioner(1, "LEFÈVRE", "Hélène", "10", "SM54", "R1", "CABINET MEDICAL DES LILAS", "69003", "LYON"),
		practitioner(2, "D'ALMEIDA", "Jean-Pierre", "60", "", "R2", "", "42000", "SAINT-ETIENNE"),
		practitioner(2, "D'ALMEIDA", "Jean-Pierre", "60", "", "R3", "CENTRE DE SANTE DU PILAT", "42400", "SAINT-CHAMOND"),
		practitioner(3, "LE GALL", "Noël", "70", "", "R4", "", "29200", "BREST"),
		practitioner(4, "MARTIN", "Marie", "10", "", "R5", "HOPITAL SAINT-JOSEPH", "75014", "PARIS"),
		practitioner(5, "MARTINEZ", "Paul", "21", "", "R6", "PHARMACIE DU PORT", "13002", "MARSEILLE"),
		practitioner(6, "MARTIM", "Anne", "91", "", "R7", "", "06000", "NICE"),
		practitioner(7, "DUPONT", "Cécile", "50", "", "R8", "", "20000", "AJACCIO"),
	}
}

func skillRows() []row {
	sk := func(n int, kind, code, label string) row {
		return row{"Type d'identifiant PP": "8", "Identifiant PP": testRPPS(n),
			"Identification nationale PP": "8" + testRPPS(n), "Code type savoir-faire": kind,
			"Code savoir-faire": code, "Libellé savoir-faire": label}
	}
	return []row{
		sk(4, "CAPA", "CAPA11", "Médecine d'urgence"),
		sk(4, "S", "SM04", "Cardiologie et maladies vasculaires"),
	}
}

func mailboxRows() []row {
	return []row{
		mailbox("PER", "helene.lefevre@medecin.mssante.fr", 1, "LEFÈVRE", "Hélène", "10", "CABINET MEDICAL DES LILAS", "", "69003", "LYON"),
		mailbox("ORG", "secretariat.cardio@ch-lyon.mssante.fr", 0, "", "", "", "CHU DE LYON", "Service de cardiologie", "69003", "LYON CEDEX 03"),
	}
}

// fixtureFiles writes the three extraction files of the test data into a new
// directory and returns their paths.
func fixtureFiles(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		writeFile(t, dir, "PS_LibreAcces_Personne_activite_202601010000.txt", extractionText(activityColumns, activityRows()...)),
		writeFile(t, dir, "PS_LibreAcces_SavoirFaire_202601010000.txt", extractionText(skillColumnNames, skillRows()...)),
		writeFile(t, dir, "Extraction_Correspondance_MSSante_202601010000.txt", extractionText(mailboxColumns, mailboxRows()...)),
	}
}

// imported opens a directory on engine with the test data imported.
func imported(t *testing.T, engine string) *Directory {
	t.Helper()
	d := openDirectory(t, engine)
	if _, err := d.Import(context.Background(), fixtureFiles(t), nil); err != nil {
		t.Fatal(err)
	}
	return d
}

// names returns "LAST First" for each entry, or the organisation.
func names(es []Entry) []string {
	var out []string
	for _, e := range es {
		if e.LastName == "" {
			out = append(out, e.Organisation)
			continue
		}
		out = append(out, e.LastName+" "+e.FirstName)
	}
	return out
}
