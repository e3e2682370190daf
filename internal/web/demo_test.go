package web

import (
	"context"

	"caduceus/internal/core"
)

// seedDemo fills Alice's inbox with the kind of mail a cardiologist gets,
// with invented names, for screenshots and the browser tests.
func (e *env) seedDemo() {
	e.t.Helper()
	for _, m := range demoMail {
		e.deliver(m, alice)
	}
	if _, err := e.svc.AddSignature(context.Background(), core.System("test"), e.accountID(alice), "Cabinet", "Dr Alice Martin\nCardiologue — Hôpital Sud\n04 00 00 00 00"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) accountID(addr string) int64 {
	a, err := e.svc.User(context.Background(), addr)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

var demoMail = []string{`
From: Laboratoire Bio Sud <resultats@labo-biosud.example>
To: Alice Martin <alice@test.mssante.fr>
Subject: Compte rendu de biologie
Date: Mon, 2 Mar 2026 08:05:00 +0100
Message-ID: <demo-1@labo-biosud.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Bonjour Docteur,

Vous trouverez ci-joint le compte rendu demandé.

Laboratoire Bio Sud
--b1
Content-Type: application/pdf; name="compte-rendu.pdf"
Content-Disposition: attachment; filename="compte-rendu.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDwvUm9vdCAxIDAgUj4+CiUlRU9GCg==
--b1--
`, `
From: Dr Paul Roux <paul.roux@chu-nord.example>
To: Alice Martin <alice@test.mssante.fr>
Cc: Bob Durand <bob@test.mssante.fr>
Subject: Avis cardiologique avant intervention
Date: Mon, 2 Mar 2026 09:40:00 +0100
Message-ID: <demo-2@chu-nord.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8

Chère consœur, pourriez-vous donner votre avis avant l'intervention prévue ?
--b2
Content-Type: text/html; charset=utf-8

<p>Chère consœur,</p>
<p>Pourriez-vous donner votre avis avant l'intervention prévue le <b>12 mars</b> ?</p>
<table border="1" cellpadding="4"><tr><th>Examen</th><th>Date</th></tr><tr><td>ECG</td><td>28 février</td></tr><tr><td>Échographie</td><td>1er mars</td></tr></table>
<p><img src="https://tracker.example/pixel.gif" alt="">Bien confraternellement,<br>Dr Paul Roux</p>
--b2--
`, `
From: Célia Lagarde <celia@test.mssante.fr>
To: Alice Martin <alice@test.mssante.fr>
Subject: Planning des consultations de mars
Date: Mon, 2 Mar 2026 10:12:00 +0100
Message-ID: <demo-3@test.mssante.fr>
Content-Type: text/plain; charset=utf-8

Bonjour,

Le planning de mars est prêt ; deux créneaux restent libres le jeudi.

Célia
`, `
From: Service des admissions <admissions@hopital-sud.example>
To: Alice Martin <alice@test.mssante.fr>
Subject: Lettre de sortie
Date: Fri, 27 Feb 2026 16:30:00 +0100
Message-ID: <demo-4@hopital-sud.example>
Content-Type: text/plain; charset=utf-8

Bonjour, la lettre de sortie est disponible dans le dossier.
`}
