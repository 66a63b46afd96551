"""The held-out labelled postings (examples/eval/heldout.jsonl, heldout2.jsonl), in the
tuple shape of tuned_rows.py. build.py writes them; examples/eval/GUIDELINE.md says who
labelled them and what each was blind to."""

# heldout.jsonl: written after the quality rules were tuned on tuned_rows.ROWS; never used to tune them.
HELDOUT_ROWS = [
 ("held-01", "Systems Administrator", "Northgate Hosting", "Edinburgh, UK", "software",
  "Northgate Hosting runs about 900 servers for web agencies across Scotland. As systems administrator you keep our "
  "Debian and Red Hat Enterprise Linux servers patched, automate configuration with Ansible, monitor services with "
  "Prometheus and Grafana and restore data from Bacula backups when needed. You script in Bash and Python and "
  "understand TCP/IP, DNS and firewalls (nftables). RHCSA certification is preferred. You join a paid on-call rota "
  "one week in six. Permanent, 37.5 hours, GBP 48,000-55,000.",
  ["Debian", "Red Hat Enterprise Linux", "Ansible", "Prometheus", "Grafana", "Bacula", "Bash", "Python", "TCP/IP",
   "DNS", "firewalls", "nftables", "RHCSA"], 10),
 ("held-02", "Pharmacy Technician", "Larchwood Pharmacy", "Norwich, UK", "health care",
  "Larchwood Pharmacy, a busy community pharmacy, is recruiting a pharmacy technician. Your duties are dispensing "
  "prescriptions, accuracy checking, keeping the controlled drugs register and ordering stock through our PMR system "
  "(ProScript Connect). You must be registered with the GPhC; an accuracy checking qualification is a plus. "
  "37.5 hours, Monday to Saturday on a rota, GBP 26,500.",
  ["dispensing", "accuracy checking", "controlled drugs register", "PMR system", "ProScript Connect", "GPhC"], 9),
 ("held-03", "Painter and Decorator", "Hartley Homes", "Leicester, UK", "trades",
  "Hartley Homes needs a painter and decorator for interior and exterior work on our new-build sites. The work "
  "covers surface preparation, filling and sanding, and applying paint by brush and roller; paper hanging is a bonus. "
  "You need site experience and your own hand tools. Self-employed, GBP 160 a day.",
  ["surface preparation", "filling and sanding", "brush and roller", "paper hanging"], 6),
 ("held-04", "Regional Truck Driver", "Redrock Freight Lines", "Dallas, TX", "logistics",
  "Redrock Freight Lines is hiring drivers for regional dry van routes in Texas, Oklahoma and Arkansas, home every "
  "weekend. You need a Class A CDL, a current DOT medical card, a clean MVR and at least 1 year of tractor-trailer "
  "experience; a Hazmat endorsement is a plus. You log hours of service on an electronic logging device. Pay is "
  "62-68 cents per mile.",
  ["Class A CDL", "DOT medical card", "clean MVR", "tractor-trailer experience", "Hazmat endorsement",
   "hours of service", "electronic logging device"], 8),
 ("held-05", "Shop Assistant", "Kwik Corner", "Cork, Ireland", "retail",
  "Shop assistant wanted for a busy convenience store. Evenings and weekends. Experience on a till is helpful. "
  "Drop your CV in store.",
  ["till"], 3),
 ("held-06", "Bartender", "The Velvet Fox", "Nottingham, UK", "hospitality",
  "The Velvet Fox cocktail bar needs a bartender for busy weekend nights. The job is cocktail making, fast drinks "
  "service, cash handling and keeping the bar stocked and clean. Some bar experience is wanted; holding a personal "
  "licence is a bonus. Thursday to Saturday evenings, hourly pay plus tips.",
  ["cocktail making", "cash handling", "bar experience", "personal licence"], 5),
 ("held-07", "Finance Administrator", "Fairhaven Housing Association", "Swindon, UK", "finance",
  "Fairhaven Housing Association is looking for a finance administrator. You will process the monthly payroll for "
  "around 400 employees in Sage 200, deal with starters, leavers and statutory sick pay, and answer staff queries. "
  "Previous payroll experience is needed; knowledge of pension auto-enrolment is helpful. Hybrid working, salary "
  "depending on experience.",
  ["payroll", "Sage 200", "statutory sick pay", "pension auto-enrolment"], 7),
 ("held-08", "EFL Teacher", "Harbourview Language School", "Valletta, Malta", "education",
  "Harbourview Language School is hiring a teacher for adult general English and IELTS preparation classes of up to "
  "12 students. Duties include lesson planning with our coursebooks, teaching all four skills and giving written "
  "feedback on homework. You hold CELTA or Trinity CertTESOL and a degree, and speak English at native level. "
  "25 contact hours a week, June to September, EUR 17 per hour.",
  ["IELTS preparation", "lesson planning", "CELTA", "Trinity CertTESOL", "English"], 8),
 ("held-09", "Sales Rockstar", "SunPeak Solar", "", "sales",
  "Are you a sales rockstar? SunPeak Solar is growing fast and needs hungry, confident closers who thrive in a "
  "fast-paced environment. You will make cold calls to homeowners and book appointments for our advisers. No "
  "experience needed, uncapped commission and an amazing team culture!",
  ["cold calls"], 3),
 ("held-10", "Library Assistant", "Eastmere Borough Council", "Eastmere, UK", "public sector",
  "Eastmere Borough Council's library service is looking for a library assistant for its branch libraries. You will "
  "welcome visitors, issue and return books, help people use the public computers and support children's "
  "activities. Good computer skills are useful. Part-time, hours to be agreed.",
  ["computer skills"], 4),
 ("held-11", "Maintenance Technician (Electrical)", "Calderwood Foods", "Wigan, UK", "manufacturing",
  "Calderwood Foods makes chilled ready meals on six packaging lines. As maintenance technician you carry out "
  "planned preventive maintenance, breakdown repairs and fault finding on conveyors, tray sealers and checkweighers. "
  "You diagnose Siemens S7 PLCs in TIA Portal, work on pneumatics and hydraulics and record every job in SAP PM. "
  "Requirements: an HNC in Electrical Engineering (or equivalent) and 3 years of maintenance in food or packaging "
  "manufacturing. 4 on 4 off, 12-hour days and nights, GBP 46,000 including shift allowance.",
  ["planned preventive maintenance", "breakdown repairs", "fault finding", "Siemens S7", "PLCs", "TIA Portal",
   "pneumatics", "hydraulics", "SAP PM", "HNC in Electrical Engineering"], 10),
 ("held-12", "Marketing Wizard", "Nova Ventures", "", "marketing",
  "Do you live and breathe marketing? We are a disruptive, fast-growing brand on a mission and we need a creative "
  "wizard to take us to the next level. You are passionate, bold and a true team player. Competitive package. "
  "Slide into our DMs!",
  [], 1),
 ("held-13", "Cleaner", "SparkleCo Services", "", "cleaning",
  "Cleaners needed for evening work. You must be reliable, trustworthy and hard-working. Experience is a plus but "
  "not essential. Good rates of pay and an immediate start. Text us for more details.",
  [], 2),
 ("held-14", "Sicherheitsmitarbeiter (m/w/d)", "Nordlicht Sicherheitsdienste GmbH", "Bremen", "security",
  "Die Nordlicht Sicherheitsdienste GmbH sucht Sicherheitsmitarbeiter für den Objektschutz in einem "
  "Logistikzentrum. Zu Ihren Aufgaben gehören Zugangskontrollen, Streifengänge auf dem Gelände und die "
  "Videoüberwachung. Sie haben die Sachkundeprüfung nach § 34a GewO bestanden und sprechen gut Deutsch; ein "
  "Erste-Hilfe-Kurs ist von Vorteil. Schichtdienst, auch nachts und am Wochenende, 15,50 Euro pro Stunde.",
  ["Zugangskontrollen", "Streifengänge", "Videoüberwachung", "Sachkundeprüfung nach § 34a GewO", "Deutsch",
   "Erste-Hilfe-Kurs"], 7),
 ("held-15", "Peón agrícola (h/m)", "Cooperativa Huerta del Segura", "Murcia, España", "agriculture",
  "La Cooperativa Huerta del Segura busca peones para sus fincas de cítricos. Tus tareas serán la poda, la "
  "recolección de la fruta y el mantenimiento del riego por goteo. Se valora saber manejar tractor y tener carné de "
  "conducir. Contrato por campaña, de octubre a mayo.",
  ["poda", "recolección", "riego por goteo", "manejar tractor", "carné de conducir"], 6),
 ("held-16", "Property Paralegal", "Ashworth Reid Solicitors", "Exeter, UK", "legal",
  "Ashworth Reid Solicitors is looking for a paralegal to support two solicitors on residential conveyancing files "
  "from instruction to completion. Your work covers pre-contract enquiries, local authority searches, TR1 transfer "
  "forms, SDLT returns and registrations with HM Land Registry, all in our case management system, Proclaim. At "
  "least one year of residential conveyancing experience is required; a CILEx qualification is welcome. "
  "Full-time, Monday to Friday, GBP 25,000-28,000.",
  ["residential conveyancing", "pre-contract enquiries", "local authority searches", "TR1 transfer forms",
   "SDLT returns", "HM Land Registry", "case management system", "Proclaim", "CILEx"], 9),
]


# heldout2.jsonl: written by another annotator, blind to the skill filters and to
# every model output, after the filters of the stop that added it were written; measured
# once, with those filters, and never used to tune them.
HELDOUT2_ROWS = [
 ("hold2-01", "Mobile Developer (iOS)", "Fjordlight Health Apps", "Oslo, Norway", "software",
  "Fjordlight builds patient diary apps used by 40 Norwegian hospitals. As iOS developer you build features in Swift "
  "and SwiftUI, write unit tests with XCTest and ship releases through Xcode Cloud and App Store Connect. You handle "
  "offline data sync with Core Data, consume REST APIs and apply GDPR rules for health data. We need 3+ years of "
  "native iOS development; you work in English, and Norwegian is a plus. Permanent, 37.5 hours, hybrid in Oslo, "
  "NOK 720,000-820,000.",
  ["Swift", "SwiftUI", "XCTest", "Xcode Cloud", "App Store Connect", "offline data sync", "Core Data", "REST APIs",
   "GDPR", "native iOS development", "English", "Norwegian"], 10),
 ("hold2-02", "Community Physiotherapist", "Kestrel Valley Community Health", "York, UK", "health care",
  "Kestrel Valley Community Health is recruiting a Band 6 physiotherapist for its community rehabilitation team. You "
  "assess and treat adults at home after falls, strokes and hip fractures, prescribe walking aids, deliver exercise "
  "programmes and write clinical notes in SystmOne. You are registered with the HCPC, hold a full UK driving licence "
  "and have experience in neurological rehabilitation. 37.5 hours, Monday to Friday 8:30-16:30, GBP 37,338-44,962 "
  "plus mileage.",
  ["prescribe walking aids", "exercise programmes", "SystmOne", "HCPC", "driving licence",
   "neurological rehabilitation"], 10),
 ("hold2-03", "HVAC Service Technician", "Northwind Mechanical", "Minneapolis, MN", "trades",
  "Northwind Mechanical is hiring an HVAC service technician for commercial rooftop units, boilers and chillers. You "
  "diagnose breakdowns, carry out refrigerant recovery, read wiring diagrams and do preventive maintenance on our "
  "service contracts. Requirements: EPA 608 Universal certification, a Minnesota HVAC license or working toward one, "
  "and a valid driver's license. Company truck provided, 40 hours plus one on-call weekend a month, USD 32-42 per hour.",
  ["refrigerant recovery", "wiring diagrams", "preventive maintenance", "EPA 608 Universal certification",
   "HVAC license", "driver's license"], 9),
 ("hold2-04", "Forklift Driver", "Brantwood Distribution", "Wakefield, UK", "logistics",
  "Brantwood Distribution is looking for forklift drivers for our chilled warehouse. You will load and unload "
  "trailers, put away pallets and keep the racking area tidy. A counterbalance licence is essential. Night shifts, "
  "Sunday to Thursday, ongoing work through an agency.",
  ["counterbalance licence"], 5),
 ("hold2-05", "Visual Merchandiser", "Halden & Co", "Aberdeen, UK", "retail",
  "Halden & Co, a family-run department store, is looking for a visual merchandiser to dress windows and in-store "
  "displays across our three floors. You will follow seasonal planograms, change mannequins and signage, and work "
  "with store managers on promotions. A good eye for colour and some experience with Adobe Photoshop would be nice. "
  "Full-time, competitive salary, staff discount.",
  ["dress windows", "planograms", "Adobe Photoshop"], 6),
 ("hold2-06", "Front of House Superstar", "The Lantern Rooms", "", "hospitality",
  "We're The Lantern Rooms and we are all about good times! Looking for a smiley, energetic front of house superstar "
  "to join our family. Bring the good vibes and we'll do the rest. Flexible shifts, free staff meals.",
  [], 2),
 ("hold2-07", "Credit Controller", "Pemberton Office Supplies", "Reading, UK", "finance",
  "Pemberton Office Supplies, a B2B wholesaler with 2,500 trade accounts, needs a credit controller. You chase "
  "overdue invoices by phone and email, allocate cash receipts, run aged debtor reports, set credit limits and "
  "prepare cases for debt collection. You are confident in Xero and Excel (VLOOKUP, pivot tables) and ideally hold a "
  "CICM Level 2 qualification. Permanent, 37.5 hours, Monday to Friday, GBP 29,000 plus 25 days holiday.",
  ["chase overdue invoices", "allocate cash receipts", "aged debtor reports", "credit limits", "debt collection",
   "Xero", "Excel", "VLOOKUP", "pivot tables", "CICM Level 2"], 10),
 ("hold2-08", "Early Years Practitioner", "Little Acorns Nursery", "Brighton, UK", "education",
  "Little Acorns Nursery is looking for an early years practitioner for our pre-school room. You will plan "
  "play-based activities, observe children's progress and keep learning journals up to date. You hold a Level 3 "
  "childcare qualification and a paediatric first aid certificate. Full-time, 8am-6pm four days a week.",
  ["play-based activities", "learning journals", "Level 3 childcare qualification",
   "paediatric first aid certificate"], 7),
 ("hold2-09", "Business Development Champion", "Apex Horizon Group", "", "sales",
  "Ready to change your life? Apex Horizon Group is looking for ambitious champions with a winning mindset. Top "
  "performers earn six figures in their first year! No experience necessary - just bring your hunger and we will "
  "teach you everything. Weekly bonuses and travel incentives.",
  [], 1),
 ("hold2-10", "Council Support Officer", "Westbrook District Council", "Westbrook, UK", "public sector",
  "Westbrook District Council is looking for a support officer to help across a range of services. You will assist "
  "colleagues with day-to-day tasks and deal with enquiries from residents. Good communication skills are "
  "important. Salary on the council scale.",
  ["communication skills"], 3),
 ("hold2-11", "Quality Inspector", "Vektor Automotive Components", "Coventry, UK", "manufacturing",
  "Vektor Automotive Components machines brake calipers for three car makers. As quality inspector you check "
  "first-off and in-process parts with a CMM (Zeiss Calypso), height gauges and bore gauges, record results in SPC "
  "charts and raise non-conformance reports. You understand GD&T, IATF 16949 and PPAP documentation. Rotating shifts "
  "6-2, 2-10, 10-6, GBP 15.80 per hour plus 20% shift premium.",
  ["CMM", "Zeiss Calypso", "height gauges", "bore gauges", "SPC", "non-conformance reports", "GD&T", "IATF 16949",
   "PPAP"], 9),
 ("hold2-12", "Dairy Herdsperson", "Greyfield Farm", "Carmarthenshire, Wales", "agriculture",
  "Greyfield Farm milks 350 cows in a rotary parlour. We need a herdsperson to help with milking, calving and "
  "youngstock rearing and to check cows for health problems. Tractor driving would be useful. Housing available.",
  ["milking", "calving", "youngstock rearing", "tractor driving"], 4),
 ("hold2-13", "Legal Secretary (Family Law)", "Marlow Penrose Solicitors", "Cheltenham, UK", "legal",
  "Marlow Penrose Solicitors needs a legal secretary for its busy family law team of four solicitors. You will "
  "produce correspondence and court forms from digital dictation, handle diary management, open and close files and "
  "prepare court bundles. Your typing speed is at least 60 wpm, you use Microsoft Word and Outlook daily and you have "
  "worked in a legal setting before; experience with LEAP case management is preferred. Full-time, 9:00-17:30, "
  "GBP 24,000-27,000, free parking.",
  ["court forms", "digital dictation", "diary management", "court bundles", "typing", "Microsoft Word", "Outlook",
   "LEAP"], 10),
 ("hold2-14", "SEO Specialist", "Cobalt Travel Group", "Barcelona, Spain", "marketing",
  "Cobalt Travel Group runs holiday booking sites in six languages. Our SEO specialist owns technical audits with "
  "Screaming Frog, keyword research in Ahrefs, and tracking in Google Search Console and GA4. You write briefs for "
  "content writers, fix schema markup and Core Web Vitals issues with our developers, and know basic HTML. Fluent "
  "English required; Spanish is a plus. Full-time, hybrid, EUR 42,000-48,000.",
  ["technical audits", "Screaming Frog", "keyword research", "Ahrefs", "Google Search Console", "GA4",
   "schema markup", "Core Web Vitals", "HTML", "English", "Spanish"], 8),
 ("hold2-15", "Door Supervisor", "Sentinel Event Security", "Newcastle upon Tyne, UK", "security",
  "Sentinel Event Security provides door teams for bars, clubs and concerts in the North East. As door supervisor "
  "you carry out ID checks and bag searches, manage queues, operate body-worn cameras and write incident reports. "
  "You must hold a valid SIA Door Supervisor licence and an Emergency First Response certificate; conflict "
  "management training is an advantage. Friday and Saturday nights 21:00-04:00, GBP 14.50 per hour, paid weekly.",
  ["ID checks", "bag searches", "body-worn cameras", "incident reports", "SIA Door Supervisor licence",
   "Emergency First Response certificate", "conflict management"], 9),
 ("hold2-16", "Cleaning Operative", "BrightPath Facilities", "", "cleaning",
  "BrightPath Facilities is always looking for great people! Morning and evening hours available across the area. "
  "You'll keep our clients' sites looking their best. Must be reliable and have a can-do attitude. Apply today.",
  [], 2),
 ("hold2-17", "Content Creator Extraordinaire", "Glowup Media", "Remote", "creative",
  "Glowup Media wants a content creator extraordinaire who knows what goes viral. You will make scroll-stopping "
  "content for our brands. Must be creative, trendy and obsessed with the internet. Freelance, pay per project.",
  [], 2),
 ("hold2-18", "Microbiology Laboratory Technician", "Calloway Bioanalytics", "Cambridge, UK", "science",
  "Calloway Bioanalytics tests pharmaceutical products for contract clients. As laboratory technician you perform "
  "sterility testing, bacterial endotoxin testing (LAL) and environmental monitoring of cleanrooms, prepare culture "
  "media and record results in LIMS. You work under GMP and follow aseptic technique at all times. A BSc in "
  "Microbiology or a related science is required. Permanent, Monday to Friday 8:00-16:30, GBP 27,000-30,000.",
  ["sterility testing", "bacterial endotoxin testing", "LAL", "environmental monitoring", "culture media", "LIMS",
   "GMP", "aseptic technique", "BSc in Microbiology"], 10),
 ("hold2-19", "Auxiliaire de vie sociale (H/F)", "Association Les Tilleuls", "Rennes, France", "social care",
  "L'association Les Tilleuls recherche un auxiliaire de vie pour accompagner des personnes âgées à leur domicile. "
  "Vos missions : aide à la toilette, préparation des repas, courses et accompagnement aux rendez-vous médicaux. Le "
  "DEAES est souhaité et le permis B est indispensable. CDI à temps partiel, 24 heures par semaine, frais "
  "kilométriques remboursés.",
  ["aide à la toilette", "préparation des repas", "DEAES", "permis B"], 7),
 ("hold2-20", "Autista di autobus", "Trasporti Lago Verde", "Bergamo, Italia", "transport",
  "Trasporti Lago Verde cerca autisti per le linee extraurbane della provincia di Bergamo. Si richiedono patente D e "
  "CQC persone in corso di validità, puntualità e cortesia con i passeggeri. Turni a rotazione anche nei festivi, "
  "contratto a tempo determinato di 12 mesi.",
  ["patente D", "CQC persone"], 6),
]
