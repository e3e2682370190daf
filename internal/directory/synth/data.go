package synth

// Reference lists for Write. Codes come from the ANS nomenclatures used in the
// extractions (profession TRE_G15, savoir-faire TRE_R38, secteur TRE_R02, mode
// d'exercice TRE_R23); names and places are common French ones.

type coded struct {
	code, label string
	weight      int // relative frequency
}

// professions with their share of practitioners, roughly as in the RPPS.
var synthProfessions = []coded{
	{"60", "Infirmier", 300}, {"10", "Médecin", 240}, {"70", "Masseur-Kinésithérapeute", 100},
	{"21", "Pharmacien", 75}, {"40", "Chirurgien-Dentiste", 45}, {"50", "Sage-Femme", 25},
	{"91", "Orthophoniste", 25}, {"80", "Pédicure-Podologue", 15}, {"94", "Ergothérapeute", 15},
	{"96", "Psychomotricien", 12}, {"98", "Manipulateur ERM", 35}, {"92", "Orthoptiste", 6},
	{"28", "Opticien-Lunetier", 40}, {"26", "Audioprothésiste", 5}, {"95", "Diététicien", 12},
	{"86", "Technicien de laboratoire médical", 30},
}

// medical specialities (savoir-faire of type S for médecins), with weights.
var synthSpecialties = []coded{
	{"SM54", "Médecine Générale", 450}, {"SM53", "Spécialiste en Médecine Générale", 60},
	{"SM04", "Cardiologie et maladies vasculaires", 30}, {"SM02", "Anesthesie-réanimation", 40},
	{"SM40", "Psychiatrie", 35}, {"SM38", "Pédiatrie", 30}, {"SM42", "Radio-diagnostic", 30},
	{"SM15", "Dermatologie et vénéréologie", 15}, {"SM20", "Gynécologie-obstétrique", 20},
	{"SM36", "Ophtalmologie", 20}, {"SM30", "Neurologie", 10}, {"SM39", "Pneumologie", 10},
	{"SM23", "Gastro-entérologie et hépatologie", 15}, {"SM45", "Rhumatologie", 10},
	{"SM18", "Gériatrie", 15}, {"SM25", "Médecine interne", 10}, {"SM28", "Néphrologie", 6},
	{"SM16", "Endocrinologie et métabolisme", 6},
	{"SM08", "Chirurgie orthopédique et traumatologie", 12},
	{"SM14", "Chirurgie viscérale et digestive", 8}, {"SM37", "Oto-rhino-laryngologie", 8},
	{"SM21", "Hématologie", 5}, {"SM33", "Oncologie option médicale", 8},
	{"SM03", "Biologie médicale", 12}, {"SM24", "Médecine du travail", 15},
	{"SM46", "Santé publique et médecine sociale", 5},
}

// dental specialities.
var synthDentalSpecialties = []coded{
	{"SCD01", "Orthopédie dento-faciale", 1},
	{"SCD02", "Chirurgie orale", 1},
	{"SCD03", "Médecine bucco-dentaire", 1},
}

var synthModes = []coded{{"L", "Libéral", 55}, {"S", "Salarié", 43}, {"B", "Bénévole", 2}}

var synthSectors = []coded{
	{"SA01", "Etablissement public de santé", 1},
	{"SA05", "Centre de santé", 1},
	{"SA07", "Cabinet individuel", 1},
	{"SA08", "Cabinet de groupe", 1},
}

// synthLastNames are common French surnames, most frequent first, with a few
// compound and apostrophe forms as they appear in the RPPS.
var synthLastNames = []string{
	"MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
	"LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL",
	"FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT",
	"MULLER", "LEFÈVRE", "FAURE", "ANDRÉ", "MERCIER", "BLANC", "GUÉRIN", "BOYER", "GARNIER",
	"CHEVALIER", "FRANÇOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN", "CLÉMENT",
	"MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON", "MARCHAND", "DUVAL",
	"DENIS", "DUMONT", "MARIE", "LEMAIRE", "NOËL", "MEYER", "DUFOUR", "MEUNIER", "BRUN",
	"BLANCHARD", "GIRAUD", "JOLY", "RIVIÈRE", "LUCAS", "BRUNET", "GAILLARD", "BARBIER", "ARNAUD",
	"MARTINEZ", "GÉRARD", "ROCHE", "RENARD", "SCHMITT", "ROY", "LEROUX", "COLIN", "VIDAL",
	"CARON", "PICARD", "ROGER", "FABRE", "AUBERT", "LEMOINE", "RENAUD", "DUMAS", "LACROIX",
	"OLIVIER", "PHILIPPE", "BOURGEOIS", "PIERRE", "BENOÎT", "REY", "LECLERC", "PAYET", "ROLLAND",
	"LECLERCQ", "GUILLAUME", "LECOMTE", "LOPEZ", "JEAN", "DUPUIS", "GUILLOT", "HUBERT", "BERGER",
	"CARPENTIER", "SANCHEZ", "MOULIN", "LOUIS", "DESCHAMPS", "HUET", "VASSEUR", "PEREZ",
	"BOUCHER", "FLEURY", "ROYER", "KLEIN", "JACQUET", "ADAM", "PARIS", "POIRIER", "MARTY",
	"AUBRY", "GUYOT", "CARRÉ", "CHARLES", "RENAULT", "CHARPENTIER", "MÉNARD", "MAILLARD",
	"BARON", "BERTIN", "BAILLY", "HERVÉ", "SCHNEIDER", "FERNANDEZ", "LE GALL", "COLLET", "LÉGER",
	"BOUVIER", "JULIEN", "PRÉVOST", "MILLET", "PERROT", "DANIEL", "LE ROUX", "COUSIN", "GERMAIN",
	"BRETON", "BESSON", "LANGLOIS", "RÉMY", "LE GOFF", "PELLETIER", "LÉVÊQUE", "PERRIER",
	"LEBLANC", "BARRÉ", "LEBRUN", "MARCHAL", "WEBER", "MALLET", "HAMON", "BOULANGER", "JACOB",
	"MONNIER", "MICHAUD", "RODRIGUEZ", "GUICHARD", "GILLET", "ÉTIENNE", "GRONDIN", "POULAIN",
	"TESSIER", "CHEVALLIER", "COLLIN", "CHAUVIN", "DA SILVA", "BOUCHET", "GAY", "LEMAÎTRE",
	"BÉNARD", "MARÉCHAL", "HUMBERT", "REYNAUD", "ANTOINE", "HOARAU", "PERRET", "BARTHÉLEMY",
	"CORDIER", "PICHON", "LEJEUNE", "GILBERT", "LAMY", "DELAUNAY", "PASQUIER", "CARLIER",
	"LAPORTE", "D'ALMEIDA", "N'DIAYE", "DE LA FONTAINE", "SAINT-MARTIN", "LEBŒUF", "NGUYEN",
	"BEN SAÏD", "O'NEILL", "DUPONT-MOREL",
}

// synthSyllables build the long tail of rarer surnames.
var synthSyllables = [3][]string{
	{"KER", "LE", "DU", "LA", "MAR", "BEL", "RO", "CHA", "GRA", "BOU", "VAL", "MON", "FER", "SAU",
		"TRE", "PEL", "COR", "DES", "GUI", "LAN", "BER", "MAU", "VIL", "CAS", "BAR", "ROU", "MIR"},
	{"GO", "VAL", "NI", "MON", "BER", "LI", "RA", "TE", "DO", "MA", "RI", "LO", "SE", "VI", "NE",
		"CHE", "BO", "GA", "LU", "PI", "ZA", "DU", "FA", "MOU"},
	{"EC", "IER", "ARD", "OT", "IN", "EAU", "OUX", "AND", "ET", "ON", "AC", "AS", "ERT", "ELLE",
		"OIS", "EL", "ENS", "AT", "Y", "EZ", "OUD", "IOU", "ÈS", "É"},
}

var synthFirstNames = [2][]string{
	{"Jean", "Pierre", "Michel", "Philippe", "Thomas", "Nicolas", "Julien", "Sébastien",
		"Frédéric", "François", "Jérôme", "Stéphane", "Benoît", "Cédric", "Raphaël", "Noël", "Loïc",
		"Joël", "Gaël", "Hervé", "René", "André", "Étienne", "Grégoire", "Thibault", "Maxime",
		"Antoine", "Alexandre", "Guillaume", "Mathieu", "Romain", "Hugo", "Lucas", "Louis", "Paul",
		"Jean-Pierre", "Jean-François", "Jean-Luc", "Pierre-Yves", "Olivier", "Laurent", "Éric",
		"Christophe", "David", "Vincent", "Arnaud", "Yannick", "Mickaël", "Aurélien", "Jérémy",
		"Florian", "Kévin", "Anthony", "Mehdi", "Karim", "Yacine", "Bruno", "Patrice", "Gérard",
		"Bernard", "Alain", "Denis", "Marc", "Luc", "Yves", "Hélios", "Côme", "Anatole", "Eliott"},
	{"Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Anne", "Christine",
		"Valérie", "Sandrine", "Stéphanie", "Céline", "Julie", "Aurélie", "Émilie", "Camille", "Léa",
		"Chloé", "Manon", "Inès", "Zoé", "Anaïs", "Hélène", "Élodie", "Mélanie", "Sophie", "Laure",
		"Agnès", "Béatrice", "Cécile", "Joëlle", "Noémie", "Gaëlle", "Maëlle", "Océane",
		"Marie-Christine", "Anne-Sophie", "Marie-Hélène", "Marie-Laure", "Virginie", "Caroline",
		"Laetitia", "Karine", "Delphine", "Audrey", "Pauline", "Charlotte", "Lucie", "Sarah",
		"Amandine", "Claire", "Elise", "Margaux", "Fatima", "Nadia", "Samira", "Aïcha", "Brigitte",
		"Monique", "Martine", "Dominique", "Pascale", "Corinne", "Véronique", "Éloïse", "Clémence",
		"Ophélie", "Bérénice", "Salomé", "Lætitia"},
}

// synthCity is a commune: its name as the RPPS writes it, postcode, INSEE code.
type synthCity struct {
	name, postcode, insee string
	weight                int
}

// synthCities are communes with their weights; PARIS, MARSEILLE and LYON carry
// a postcode prefix, to which the arrondissement is added (75001…75020).
var synthCities = []synthCity{
	{"PARIS", "750", "75056", 110}, {"MARSEILLE", "130", "13055", 40}, {"LYON", "690", "69123", 35},
	{"TOULOUSE", "31000", "31555", 25}, {"NICE", "06000", "06088", 18},
	{"NANTES", "44000", "44109", 16}, {"MONTPELLIER", "34000", "34172", 16},
	{"STRASBOURG", "67000", "67482", 15}, {"BORDEAUX", "33000", "33063", 18},
	{"LILLE", "59000", "59350", 16}, {"RENNES", "35000", "35238", 12}, {"REIMS", "51100", "51454", 8},
	{"SAINT-ETIENNE", "42000", "42218", 8}, {"LE HAVRE", "76600", "76351", 7},
	{"TOULON", "83000", "83137", 8}, {"GRENOBLE", "38000", "38185", 10},
	{"DIJON", "21000", "21231", 8}, {"ANGERS", "49000", "49007", 7}, {"NIMES", "30000", "30189", 7},
	{"VILLEURBANNE", "69100", "69266", 6}, {"CLERMONT-FERRAND", "63000", "63113", 8},
	{"LE MANS", "72000", "72181", 6}, {"AIX-EN-PROVENCE", "13100", "13001", 7},
	{"BREST", "29200", "29019", 6}, {"TOURS", "37000", "37261", 7}, {"AMIENS", "80000", "80021", 6},
	{"LIMOGES", "87000", "87085", 6}, {"ANNECY", "74000", "74010", 5},
	{"PERPIGNAN", "66000", "66136", 6}, {"BOULOGNE-BILLANCOURT", "92100", "92012", 6},
	{"METZ", "57000", "57463", 6}, {"BESANCON", "25000", "25056", 6}, {"ORLEANS", "45000", "45234", 6},
	{"SAINT-DENIS", "93200", "93066", 5}, {"ROUEN", "76000", "76540", 7},
	{"MULHOUSE", "68100", "68224", 5}, {"CAEN", "14000", "14118", 6}, {"NANCY", "54000", "54395", 6},
	{"AJACCIO", "20000", "2A004", 3}, {"BASTIA", "20200", "2B033", 3},
	{"FORT-DE-FRANCE", "97200", "97209", 3}, {"POINTE-A-PITRE", "97110", "97120", 2},
	{"CAYENNE", "97300", "97302", 2}, {"SAINT-DENIS", "97400", "97411", 4},
	{"SAINT-PAUL", "97460", "97415", 2}, {"MAMOUDZOU", "97600", "97611", 1},
	{"BEZIERS", "34500", "34032", 3}, {"PAU", "64000", "64445", 4},
	{"LA ROCHELLE", "17000", "17300", 4}, {"QUIMPER", "29000", "29232", 3},
	{"VANNES", "56000", "56260", 3}, {"SAINT-MALO", "35400", "35288", 2},
	{"VALENCE", "26000", "26362", 3}, {"CHAMBERY", "73000", "73065", 3},
	{"TROYES", "10000", "10387", 3}, {"POITIERS", "86000", "86194", 4},
	{"ANGOULEME", "16000", "16015", 3}, {"PERIGUEUX", "24000", "24322", 2},
	{"AVIGNON", "84000", "84007", 4}, {"CANNES", "06400", "06029", 3},
	{"BOURG-EN-BRESSE", "01000", "01053", 2}, {"MACON", "71000", "71270", 2},
	{"NEVERS", "58000", "58194", 2}, {"BOURGES", "18000", "18033", 2},
	{"CHARTRES", "28000", "28085", 2}, {"EVREUX", "27000", "27229", 2},
	{"BEAUVAIS", "60000", "60057", 2}, {"ARRAS", "62000", "62041", 2},
	{"DUNKERQUE", "59140", "59183", 3}, {"ROUBAIX", "59100", "59512", 3},
	{"COLMAR", "68000", "68066", 2}, {"SAINT-BRIEUC", "22000", "22278", 2},
	{"LAVAL", "53000", "53130", 2}, {"LE PUY-EN-VELAY", "43000", "43157", 1},
	{"AURILLAC", "15000", "15014", 1}, {"VICHY", "03200", "03310", 1},
	{"BRIVE-LA-GAILLARDE", "19100", "19031", 1}, {"MENDE", "48000", "48095", 1},
	{"L'HAY-LES-ROSES", "94240", "94038", 1}, {"CRETEIL", "94000", "94028", 3},
	{"NANTERRE", "92000", "92050", 3}, {"VERSAILLES", "78000", "78646", 3},
	{"CERGY", "95000", "95127", 2}, {"MEAUX", "77100", "77284", 2},
	{"SAINT-GERMAIN-EN-LAYE", "78100", "78551", 2}, {"ST-MAUR-DES-FOSSES", "94100", "94068", 2},
}

var synthStreetTypes = []coded{
	{"R", "Rue", 50}, {"AV", "Avenue", 20}, {"BD", "Boulevard", 10}, {"PL", "Place", 6},
	{"CHE", "Chemin", 5}, {"IMP", "Impasse", 3}, {"ALL", "Allée", 3}, {"QUAI", "Quai", 2},
	{"RTE", "Route", 3},
}

var synthStreets = []string{
	"DE LA REPUBLIQUE", "VICTOR HUGO", "JEAN JAURES", "DES LILAS", "DU GENERAL DE GAULLE",
	"PASTEUR", "DE LA GARE", "DU MOULIN", "GAMBETTA", "DE VERDUN", "DES ECOLES", "FOCH",
	"DE L'EGLISE", "CARNOT", "DU 8 MAI 1945", "DE LA LIBERATION", "JEAN MOULIN", "DE PARIS",
	"DES TILLEULS", "SAINT-MICHEL", "D'ALSACE-LORRAINE", "EMILE ZOLA", "DU CHÂTEAU",
	"DE LA PAIX", "ARISTIDE BRIAND", "CLEMENCEAU", "DES ROSIERS", "DU MARECHAL LECLERC",
}

var synthServices = []string{
	"Cardiologie", "Urgences", "Pédiatrie", "Radiologie", "Maternité", "Oncologie", "Gériatrie",
	"Psychiatrie adulte", "Chirurgie orthopédique", "Laboratoire", "Pharmacie à usage intérieur",
	"Néphrologie", "Neurologie", "Médecine interne", "Secrétariat médical", "Bloc opératoire",
	"Consultations externes", "Soins de suite", "Imagerie médicale", "Dermatologie",
}

// synthDomains are fake operator domains for personal mailboxes.
var synthDomains = []string{
	"medecin.mssante.fr", "pharmacien.mssante.fr", "infirmier.mssante.fr",
	"masseur-kinesitherapeute.mssante.fr", "chirurgien-dentiste.mssante.fr",
	"sage-femme.mssante.fr", "pro.mssante.fr", "op-alpha.mssante.fr", "op-beta.mssante.fr",
	"messagerie-sante.mssante.fr",
}
