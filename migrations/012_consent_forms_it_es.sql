-- Consent: the consent form in Italian and Spanish, so that applicants sign in the case's
-- language. Owned by package consent.

INSERT INTO consent_forms (version, language, text, sha256)
SELECT v, l, t, sha256(convert_to(t, 'UTF8')) FROM (VALUES ('2025-01-it', 'it',
$form$Consenso al trattamento dei dati personali e relativi alla salute per un secondo parere

Chiedo un secondo parere medico sul mio caso, o sul caso della persona che rappresento legalmente.

1. Finalità. I documenti e i dati che fornisco saranno usati solo per valutare il caso e redigere
   il referto di secondo parere, e per la gestione amministrativa e il pagamento di tale servizio.
2. Chi li vede. Gli operatori incaricati della gestione dei casi verificano che la richiesta sia
   completa. Solo gli specialisti assegnati al caso leggono i documenti clinici. Nessun altro li
   riceve e non sono mai usati per finalità di marketing.
3. Protezione. Ogni documento è cifrato prima di essere archiviato. Ogni accesso, consentito o
   negato, è annotato in un registro degli accessi che posso chiedere di consultare.
4. Conservazione. I dati sono conservati per il periodo previsto dalla legge per la documentazione
   sanitaria e poi cancellati; il registro degli accessi non contiene dati sanitari.
5. I miei diritti. Posso consultare, rettificare ed esportare i miei dati o chiederne la
   cancellazione, e posso revocare questo consenso in qualsiasi momento. La revoca impedisce ogni
   ulteriore accesso ai documenti; non rende illecito quanto fatto prima della revoca.
6. Base giuridica. Consenso esplicito ai sensi dell'art. 6, par. 1, lett. a), e dell'art. 9,
   par. 2, lett. a), del Regolamento generale sulla protezione dei dati (UE) 2016/679. Il
   responsabile della protezione dei dati può essere contattato tramite il servizio.

Scrivendo il mio nome e cognome confermo di aver letto questo testo e di prestare il mio consenso.
Se firmo per un'altra persona, confermo di esserne il genitore esercente la responsabilità
genitoriale, il tutore o il rappresentante legale.
$form$), ('2025-01-es', 'es',
$form$Consentimiento para el tratamiento de datos personales y de salud para una segunda opinión

Solicito una segunda opinión médica sobre mi caso o sobre el caso de la persona a la que
represento legalmente.

1. Finalidad. Los documentos y datos que facilito se utilizarán solo para valorar el caso y
   redactar el informe de segunda opinión, y para la gestión administrativa y el pago de ese
   servicio.
2. Quién los ve. Los gestores de casos comprueban que la solicitud esté completa. Solo los
   especialistas asignados al caso leen los documentos clínicos. Nadie más los recibe y nunca se
   utilizan con fines de marketing.
3. Protección. Cada documento se cifra antes de almacenarse. Cada acceso, autorizado o denegado,
   queda anotado en un registro de auditoría que puedo pedir consultar.
4. Conservación. Los datos se conservan durante el plazo que exige la ley para la documentación
   clínica y después se suprimen; el registro de auditoría no guarda datos de salud.
5. Mis derechos. Puedo consultar, rectificar y exportar mis datos o pedir su supresión, y puedo
   retirar este consentimiento en cualquier momento. La retirada impide cualquier acceso posterior
   a los documentos; no convierte en ilícito lo realizado antes de ella.
6. Base jurídica. Consentimiento explícito conforme al artículo 6.1.a) y al artículo 9.2.a) del
   Reglamento General de Protección de Datos (UE) 2016/679. Se puede contactar con el delegado de
   protección de datos a través del servicio.

Al escribir mi nombre completo confirmo que he leído este texto y que doy mi consentimiento.
Si firmo por otra persona, confirmo que soy su padre o madre con patria potestad, su tutor o su
representante legal.
$form$)) AS f(v, l, t);
