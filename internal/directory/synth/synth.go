// Package synth writes synthetic directory extractions: the three files
// ANS publishes (PS_LibreAcces_Personne_activite, PS_LibreAcces_SavoirFaire,
// Extraction_Correspondance_MSSante), in exactly their formats and with
// data that follow the real code lists, for demonstrations, tests and
// benchmarks of internal/directory. `caduceus directory synth` and the
// demonstration directory of `caduceus dev` are made with it; no server
// code calls it.
package synth

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"caduceus/internal/directory"
)

// Write writes synthetic extraction files into dir, in exactly the published
// formats: PS_LibreAcces_Personne_activite with rows data lines (56 columns),
// its SavoirFaire companion, and Extraction_Correspondance_MSSante with about one
// mailbox for four activity rows. The data follow the real code lists; RPPS
// numbers carry a valid Luhn key and national ids are "8" + RPPS. The same seed
// gives the same files. It returns the paths written.
func Write(ctx context.Context, dir string, rows int, seed int64) ([]string, error) {
	if rows < 1 {
		return nil, fmt.Errorf("synth: rows must be at least 1")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	const stamp = "202601010600"
	names := []string{
		"PS_LibreAcces_Personne_activite_" + stamp + ".txt",
		"PS_LibreAcces_SavoirFaire_" + stamp + ".txt",
		"Extraction_Correspondance_MSSante_" + stamp + ".txt",
	}
	var paths []string
	var outs []*synthFile
	for _, n := range names {
		f, err := createSynthFile(filepath.Join(dir, n))
		if err != nil {
			for _, o := range outs {
				o.f.Close()
			}
			return nil, err
		}
		outs = append(outs, f)
		paths = append(paths, f.f.Name())
	}
	g := newSynthesizer(seed, outs[0], outs[1], outs[2])
	err := g.run(ctx, rows)
	for _, o := range outs {
		if cerr := o.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return paths, nil
}

type synthFile struct {
	f *os.File
	w *bufio.Writer
}

func createSynthFile(path string) (*synthFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return &synthFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// line writes fields as one line, each followed by '|' as in the extractions.
func (s *synthFile) line(fields ...string) {
	for _, f := range fields {
		s.w.WriteString(f)
		s.w.WriteByte('|')
	}
	s.w.WriteByte('\n')
}

func (s *synthFile) close() error {
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// synthesizer generates practitioners, their places and their mailboxes.
type synthesizer struct {
	rnd                  *rand.Rand
	seed                 int64
	act, skills, mailbox *synthFile
	used                 map[string]bool // mailbox addresses already given out
	personal             int             // personal mailboxes written
	structs              []synthStructure
	profW, specW, cityW  []int
}

// synthStructure is a place of activity shared by several practitioners.
type synthStructure struct {
	id, siret, finess, name, brand, sector string
	number, repeat, streetType, street     string
	city                                   synthCity
	postcode                               string
}

func newSynthesizer(seed int64, act, skills, mailbox *synthFile) *synthesizer {
	g := &synthesizer{
		rnd:  rand.New(rand.NewPCG(uint64(seed), 0x5ca1ab1e)),
		seed: seed,
		act:  act, skills: skills, mailbox: mailbox,
		used: make(map[string]bool),
	}
	g.profW = cumulative(len(synthProfessions), func(i int) int { return synthProfessions[i].weight })
	g.specW = cumulative(len(synthSpecialties), func(i int) int { return synthSpecialties[i].weight })
	g.cityW = cumulative(len(synthCities), func(i int) int { return synthCities[i].weight })
	return g
}

func cumulative(n int, weight func(int) int) []int {
	c := make([]int, n)
	sum := 0
	for i := range n {
		sum += weight(i)
		c[i] = sum
	}
	return c
}

// pick returns an index drawn with the weights cumulated in c.
func (g *synthesizer) pick(c []int) int {
	x := g.rnd.IntN(c[len(c)-1])
	lo, hi := 0, len(c)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if c[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (g *synthesizer) chance(percent float64) bool { return g.rnd.Float64()*100 < percent }

func (g *synthesizer) run(ctx context.Context, rows int) error {
	g.header()
	// Hospitals and group practices are shared; a single practice belongs to one
	// practitioner and is made on the spot.
	nShared := max(rows/400, 10)
	for i := range nShared {
		g.structs = append(g.structs, g.structure(i, i%5 == 0))
	}
	written := 0
	for person := 0; written < rows; person++ {
		if person%10000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		written += g.person(person, rows-written)
	}
	// 540,000 MSSanté rows for 2.2 million activity rows, as published; the
	// organisational mailboxes make up what personal ones leave.
	orgs := max(rows*540/2200-g.personal, rows*20/2200)
	for i := range orgs {
		g.orgMailbox(i)
	}
	return nil
}

func (g *synthesizer) header() {
	civLabel, dept := "Libellé civilité d'exercice", "Code Département (structure)"
	if g.seed%2 == 1 { // spellings vary between extractions
		civLabel, dept = "Libellé civilité exercice", "Code département (coord. structure)"
	}
	g.act.line("Type d'identifiant PP", "Identifiant PP", "Identification nationale PP",
		"Code civilité d'exercice", civLabel, "Code civilité", "Libellé civilité",
		"Nom d'exercice", "Prénom d'exercice", "Code profession", "Libellé profession",
		"Code catégorie professionnelle", "Libellé catégorie professionnelle",
		"Code type savoir-faire", "Libellé type savoir-faire", "Code savoir-faire",
		"Libellé savoir-faire", "Code mode exercice", "Libellé mode exercice",
		"Numéro SIRET site", "Numéro SIREN site", "Numéro FINESS site",
		"Numéro FINESS établissement juridique", "Identifiant technique de la structure",
		"Raison sociale site", "Enseigne commerciale site",
		"Complément destinataire (coord. structure)",
		"Complément point géographique (coord. structure)", "Numéro Voie (coord. structure)",
		"Indice répétition voie (coord. structure)", "Code type de voie (coord. structure)",
		"Libellé type de voie (coord. structure)", "Libellé Voie (coord. structure)",
		"Mention distribution (coord. structure)", "Bureau cedex (coord. structure)",
		"Code postal (coord. structure)", "Code commune (coord. structure)",
		"Libellé commune (coord. structure)", "Code pays (coord. structure)",
		"Libellé pays (coord. structure)", "Téléphone (coord. structure)",
		"Téléphone 2 (coord. structure)", "Télécopie (coord. structure)",
		"Adresse e-mail (coord. structure)", dept, "Libellé Département (structure)",
		"Ancien identifiant de la structure", "Autorité d'enregistrement",
		"Code secteur d'activité", "Libellé secteur d'activité",
		"Code section tableau pharmaciens", "Libellé section tableau pharmaciens",
		"Code fonction", "Libellé fonction", "Code genre d'activité", "Libellé genre d'activité")
	g.skills.line("Type d'identifiant PP", "Identifiant PP", "Identification nationale PP",
		"Nom d'exercice", "Prénom d'exercice", "Code profession", "Libellé profession",
		"Code catégorie professionnelle", "Libellé catégorie professionnelle",
		"Code type savoir-faire", "Libellé type savoir-faire", "Code savoir-faire",
		"Libellé savoir-faire")
	g.mailbox.line("Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
		"Identification nationale PP", "Type identifiant structure", "Identification Structure",
		"Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
		"Catégorie profession", "Libellé de catégorie profession", "Code Profession",
		"Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
		"Raison Sociale structure BAL", "Enseigne commerciale structure BAL",
		"L2COMPLEMENTLOCALISATION structure BAL", "L3COMPLEMENTDISTRIBUTION structure BAL",
		"L4NUMEROVOIE structure BAL", "L4COMPLEMENTNUMEROVOIE structure BAL",
		"NL4TYPEVOIE structure BAL", "L4LIBELLEVOIE structure BAL",
		"L5LIEUDITMENTION structure BAL", "L6LIGNEACHEMINEMENT structure BAL",
		"Code postal structure BAL", "Département structure BAL", "Pays structure BAL")
}

// structure makes a place of activity; hospital ones have a FINESS number.
func (g *synthesizer) structure(i int, hospital bool) synthStructure {
	c := synthCities[g.pick(g.cityW)]
	s := synthStructure{
		id:         fmt.Sprintf("R10000%09d", i*7+int(g.seed%7)),
		siret:      fmt.Sprintf("%014d", 20000000000000+i*104729%1000000000000),
		number:     strconv.Itoa(1 + g.rnd.IntN(150)),
		streetType: synthStreetTypes[g.rnd.IntN(len(synthStreetTypes))].code,
		street:     synthStreets[g.rnd.IntN(len(synthStreets))],
		city:       c,
		postcode:   g.postcode(c),
	}
	if g.chance(4) {
		s.repeat = "B"
	}
	town := strings.ToUpper(c.name)
	switch {
	case hospital:
		s.finess = fmt.Sprintf("%s%07d", deptOfINSEE(c.insee), i%10000000)
		s.sector = "SA01"
		s.name = []string{"CENTRE HOSPITALIER DE ", "CHU DE ", "HOPITAL PRIVE DE ", "CLINIQUE DU PARC "}[i%4] + town
	case i%3 == 0:
		s.sector = "SA05"
		s.name = "CENTRE DE SANTE " + synthStreets[i%len(synthStreets)]
	default:
		s.sector = "SA08"
		s.name = "CABINET MEDICAL " + synthStreets[i%len(synthStreets)]
		s.brand = "MAISON DE SANTE " + town
	}
	return s
}

// postcode returns a postcode of c, with an arrondissement for Paris, Lyon and
// Marseille.
func (g *synthesizer) postcode(c synthCity) string {
	switch c.postcode {
	case "750":
		return fmt.Sprintf("750%02d", 1+g.rnd.IntN(20))
	case "690":
		return fmt.Sprintf("6900%d", 1+g.rnd.IntN(9))
	case "130":
		return fmt.Sprintf("130%02d", 1+g.rnd.IntN(16))
	}
	return c.postcode
}

func deptOfINSEE(insee string) string {
	if strings.HasPrefix(insee, "97") {
		return insee[:3]
	}
	return insee[:2]
}

// person writes one practitioner's activity rows, at most room of them, with
// their skill and, for some, a personal mailbox. It returns the rows written.
func (g *synthesizer) person(i, room int) int {
	prof := synthProfessions[g.pick(g.profW)]
	female := g.chance(womenShare(prof.code))
	idType, id := "8", rpps(i, g.seed)
	if g.chance(3) && prof.code != "10" && prof.code != "21" {
		idType, id = "0", fmt.Sprintf("%02d%d%06d", 1+g.rnd.IntN(95), g.rnd.IntN(10), (i*31+7)%1000000)
	}
	p := synthPerson{
		idType: idType, id: id, idnat: idType + id,
		last:  g.lastName(),
		first: g.firstName(female),
		prof:  prof,
	}
	if female {
		p.civ, p.civLabel = "MME", "Madame"
	} else {
		p.civ, p.civLabel = "M", "Monsieur"
	}
	if prof.code == "10" || prof.code == "40" {
		p.title, p.titleLabel = "DR", "Docteur"
		if g.chance(2) {
			p.title, p.titleLabel = "PR", "Professeur"
		}
	}
	switch prof.code {
	case "10":
		p.skill = synthSpecialties[g.pick(g.specW)]
	case "40":
		if g.chance(15) {
			p.skill = synthDentalSpecialties[g.rnd.IntN(len(synthDentalSpecialties))]
		}
	}
	n := 1
	switch x := g.rnd.IntN(100); {
	case x < 5:
		n = 0 // registered without activity
	case x < 20:
		n = 2
	case x < 24:
		n = 3
	}
	var places []synthStructure
	if n == 0 {
		g.activity(&p, nil, "")
		places = append(places, synthStructure{})
		n = 1
	} else {
		for k := 0; k < n && k < room; k++ {
			s := g.place(i, k)
			mode := synthModes[0].code
			if s.sector == "SA01" || s.sector == "SA05" {
				mode = "S"
			} else if g.chance(2) {
				mode = "B"
			}
			g.activity(&p, &s, mode)
			places = append(places, s)
		}
		n = min(n, room)
	}
	if p.skill.code != "" {
		g.skills.line(p.idType, p.id, p.idnat, p.last, p.first, prof.code, prof.label, "C",
			"Civil", "S", "Spécialité ordinale", p.skill.code, p.skill.label)
		if g.chance(8) {
			g.skills.line(p.idType, p.id, p.idnat, p.last, p.first, prof.code, prof.label, "C",
				"Civil", "CAPA", "Capacité", "CAPA11", "Médecine d'urgence")
		}
	}
	if idType == "8" && g.chance(mailboxShare(prof.code)) {
		g.personalMailbox(&p, places[0])
	}
	return n
}

// womenShare is the percentage of women in a profession.
func womenShare(profession string) float64 {
	switch profession {
	case "60":
		return 86
	case "50":
		return 97
	case "91":
		return 96
	case "10":
		return 50
	}
	return 60
}

// mailboxShare is the percentage of a profession with an MSSanté personal
// mailbox.
func mailboxShare(profession string) float64 {
	switch profession {
	case "10":
		return 50
	case "21":
		return 45
	case "40":
		return 35
	case "50":
		return 30
	case "70":
		return 20
	case "60":
		return 13
	}
	return 8
}

type synthPerson struct {
	idType, id, idnat string
	civ, civLabel     string
	title, titleLabel string
	last, first       string
	prof, skill       coded
}

// rpps returns the RPPS number of the i-th person: "1", nine digits drawn
// without repetition from i, and the Luhn key.
func rpps(i int, seed int64) string {
	body := fmt.Sprintf("1%09d", (int64(i)*7919+seed%1000)%1_000_000_000)
	return body + string(directory.Luhn(body))
}

// place returns the k-th place of activity of person i.
func (g *synthesizer) place(i, k int) synthStructure {
	if g.chance(45) {
		return g.structs[g.rnd.IntN(len(g.structs))]
	}
	s := g.structure(len(g.structs)+i*3+k, false)
	s.sector, s.brand = "SA07", ""
	s.name = ""
	if g.chance(30) {
		s.name = "CABINET DU DOCTEUR"
	}
	return s
}

func (g *synthesizer) activity(p *synthPerson, s *synthStructure, mode string) {
	modeLabel := ""
	for _, m := range synthModes {
		if m.code == mode {
			modeLabel = m.label
		}
	}
	var st synthStructure
	if s != nil {
		st = *s
	}
	city, dept, insee, sectorLabel, country, countryLabel := "", "", "", "", "", ""
	if s != nil {
		city, dept, insee = st.city.name, deptOfINSEE(st.city.insee), st.city.insee
		country, countryLabel = "99000", "France"
		for _, sec := range synthSectors {
			if sec.code == st.sector {
				sectorLabel = sec.label
			}
		}
		if g.chance(1) {
			city = strings.Replace(city, "SAINT-", "ST ", 1) // an odd spelling
		}
	}
	streetLabel := ""
	for _, t := range synthStreetTypes {
		if t.code == st.streetType {
			streetLabel = t.label
		}
	}
	last := p.last
	if g.chance(0.5) {
		last = strings.ToLower(last) // as some registrations have it
	}
	siren := ""
	if len(st.siret) == 14 {
		siren = st.siret[:9]
	}
	old := ""
	if st.siret != "" {
		old = "3" + st.siret
	}
	section, sectionLabel := "", ""
	if p.prof.code == "21" {
		section, sectionLabel = "A", "Pharmaciens titulaires d'officine"
		if st.sector == "SA01" {
			section, sectionLabel = "H", "Pharmaciens des établissements de santé"
		}
	}
	authority := "ARS/ARS/ARS"
	switch p.prof.code {
	case "10":
		authority = "CNOM/CNOM/CNOM"
	case "21":
		authority = "CNOP/CNOP/CNOP"
	}
	g.act.line(p.idType, p.id, p.idnat, p.title, p.titleLabel, p.civ, p.civLabel,
		last, p.first, p.prof.code, p.prof.label, "C", "Civil", "", "", "", "",
		mode, modeLabel, st.siret, siren, st.finess, "", st.id, st.name, st.brand, "", "",
		st.number, st.repeat, st.streetType, streetLabel, st.street, "", "", st.postcode, insee,
		city, country, countryLabel, "", "", "", "", dept, "", old, authority, st.sector,
		sectorLabel, section, sectionLabel, "", "", "GENR01", "Activité standard")
}

func (g *synthesizer) lastName() string {
	var n string
	if g.chance(55) {
		// Zipf-like: the first names of the list are the most common.
		k := int(float64(len(synthLastNames)) * g.rnd.Float64() * g.rnd.Float64())
		n = synthLastNames[k]
	} else {
		s := synthSyllables
		n = s[0][g.rnd.IntN(len(s[0]))] + s[1][g.rnd.IntN(len(s[1]))] + s[2][g.rnd.IntN(len(s[2]))]
		if g.chance(30) {
			n = s[0][g.rnd.IntN(len(s[0]))] + s[1][g.rnd.IntN(len(s[1]))] + n[len(n)/2:]
		}
		if g.chance(4) {
			n += "-" + synthLastNames[g.rnd.IntN(len(synthLastNames))]
		}
	}
	return n
}

func (g *synthesizer) firstName(female bool) string {
	list := synthFirstNames[0]
	if female {
		list = synthFirstNames[1]
	}
	n := list[int(float64(len(list))*g.rnd.Float64()*g.rnd.Float64())]
	if g.chance(0.5) {
		n = strings.ToUpper(n)
	}
	return n
}

// address returns a free mailbox address made of local@domain, numbering it when
// the name is taken.
func (g *synthesizer) address(local, domain string) string {
	base := strings.Trim(strings.ReplaceAll(directory.Fold(local), " ", "."), ".")
	a := base + "@" + domain
	for k := 2; g.used[a]; k++ {
		a = base + strconv.Itoa(k) + "@" + domain
	}
	g.used[a] = true
	return a
}

func (g *synthesizer) personalMailbox(p *synthPerson, s synthStructure) {
	domain := synthDomains[g.rnd.IntN(len(synthDomains))]
	switch p.prof.code {
	case "10":
		domain = "medecin.mssante.fr"
	case "21":
		domain = "pharmacien.mssante.fr"
	case "60":
		domain = "infirmier.mssante.fr"
	}
	if s.sector == "SA01" && g.chance(70) {
		domain = "ch-" + strings.ReplaceAll(directory.Fold(s.city.name), " ", "-") + ".mssante.fr"
	}
	if g.chance(25) {
		domain = synthDomains[g.rnd.IntN(len(synthDomains))]
	}
	addr := g.address(p.first+" "+p.last, domain)
	g.personal++
	g.mailboxLine("PER", addr, p.idType, p.id, p.idnat, "", p.title, p.last, p.first, p.prof, p.skill, s)
}

func (g *synthesizer) orgMailbox(i int) {
	s := g.structs[i%len(g.structs)]
	service := synthServices[g.rnd.IntN(len(synthServices))]
	domain := "ch-" + strings.ReplaceAll(directory.Fold(s.city.name), " ", "-") + ".mssante.fr"
	prefix := []string{"secretariat ", "accueil ", "", "contact "}[i%4]
	addr := g.address(prefix+service, domain)
	g.mailboxLine("ORG", addr, "", "", "", "Service "+service, "", "", "", coded{}, coded{}, s)
}

func (g *synthesizer) mailboxLine(kind, addr, idType, id, idnat, service, title, last, first string, prof, skill coded, s synthStructure) {
	demat := "False"
	if g.chance(60) {
		demat = "True"
	}
	delivery := ""
	if s.postcode != "" {
		delivery = s.postcode + " " + s.city.name
		if g.chance(5) {
			delivery += " CEDEX"
		}
	}
	structType, structID := "", ""
	switch {
	case s.finess != "":
		structType, structID = "1", "1"+s.finess
	case s.siret != "":
		structType, structID = "3", "3"+s.siret
	}
	cat, catLabel := "", ""
	if prof.code != "" {
		cat, catLabel = "C", "Civil"
	}
	country := ""
	if s.postcode != "" {
		country = "FRANCE"
	}
	g.mailbox.line(kind, addr, idType, id, idnat, structType, structID, service, title, last,
		first, cat, catLabel, prof.code, prof.label, skill.code, skill.label, demat, s.name,
		s.brand, "", "", s.number, s.repeat, s.streetType, s.street, "", delivery, s.postcode,
		directory.Department(s.postcode), country)
}
