"""Writes the labelled evaluation sets (hand-written postings, gold skills as they
appear in the text, a hand-given clarity score 1-10):

- examples/eval/postings.jsonl (``ROWS``): the set the benchmark reads and the quality
  rules were tuned on.
- examples/eval/heldout.jsonl (``HELDOUT_ROWS``): 16 further postings (new employers,
  texts and occupations, labelled the same way), written after the quality rules were
  tuned on postings.jsonl and never used to tune them; only for checking that those
  rules generalise. Once measured, its mistakes were seen, and the next stop's filters
  were written with them in view, so it is held out for the filters before that stop only.
- examples/eval/heldout2.jsonl (``HELDOUT2_ROWS``): 20 postings in 20 sectors (one French,
  one Italian), written by a second annotator blind to the filters and to every model
  output; measured once with the filters of the stop that added it.

Edit the rows here and run `python examples/eval/build.py`; the JSONL files are what the
benchmark reads. Each row is a posting `wavestream submit` accepts once `gold` is
removed (`jq -c 'del(.gold)'`)."""

import json
import random
from pathlib import Path

ROWS = [
 # --- software ---
 ("eval-01", "Senior Backend Engineer (Go)", "Tideline Payments", "Amsterdam, Netherlands", "software",
  "Tideline Payments is looking for a senior backend engineer to own our settlement services. You will write services "
  "in Go, design gRPC APIs, store ledgers in PostgreSQL and stream events through Apache Kafka. We deploy on Kubernetes "
  "with Terraform. Requirements: 5+ years of backend development, strong SQL, experience with distributed systems and "
  "on-call duty. Full-time, hybrid (3 office days), salary EUR 85,000-100,000.",
  ["Go", "gRPC", "PostgreSQL", "Apache Kafka", "Kubernetes", "Terraform", "SQL", "distributed systems"], 10),
 ("eval-02", "Frontend Developer", "Lumen Studio", "Remote (EU)", "software",
  "Lumen Studio builds booking tools for small clinics. As frontend developer you build our web app in React and "
  "TypeScript, write component tests with Jest and work with designers in Figma. You know HTML, CSS and accessibility "
  "basics. 32 or 40 hours a week, fully remote within EU time zones, EUR 55k-70k.",
  ["React", "TypeScript", "Jest", "Figma", "HTML", "CSS", "accessibility"], 9),
 ("eval-03", "Rockstar Ninja Developer", "HyperGrowth", "Anywhere", "software",
  "Join our awesome team! We move fast and break things. You are passionate, hungry and love coding. Tech stack is "
  "modern. Great vibes, free snacks, unlimited potential. Apply now!",
  ["coding"], 2),
 ("eval-04", "Data Analyst", "Brightwater Utilities", "Leeds, UK", "software",
  "Brightwater Utilities needs a data analyst in its customer insight team. You will build dashboards in Power BI, "
  "query our data warehouse with SQL, clean data in Python (pandas) and present findings to managers. A degree in "
  "statistics or a related field and 2 years of experience are required. Permanent, 37.5 hours, GBP 38,000.",
  ["Power BI", "SQL", "Python", "pandas", "statistics"], 9),
 # --- health care ---
 ("eval-05", "Registered Nurse - Intensive Care", "Riverside General Hospital", "Portland, OR", "health care",
  "Riverside General Hospital is hiring a registered nurse for its 20-bed intensive care unit. Duties: monitoring "
  "ventilated patients, medication administration, central line care and family communication. Requirements: active "
  "Oregon RN license, BLS and ACLS certification, two years of ICU experience. Three 12-hour shifts per week, "
  "USD 52-64 per hour, night differential.",
  ["RN license", "BLS", "ACLS", "medication administration", "central line care", "ICU experience"], 10),
 ("eval-06", "Care Assistant", "Hollybank Care Home", "Derby, UK", "health care",
  "Hollybank Care Home is looking for caring people to support our residents with personal care, meals and daily "
  "activities. No experience needed as full training is given, but a kind and patient attitude is essential. Day and "
  "night shifts available, GBP 11.50 per hour.",
  ["personal care"], 7),
 ("eval-07", "Dental Hygienist", "Smile Street Dental", "Austin, TX", "health care",
  "Smile Street Dental seeks a licensed dental hygienist. You will perform cleanings, periodontal charting, take "
  "digital X-rays and teach patients oral hygiene. Texas dental hygiene license and CPR certification required; "
  "experience with Dentrix preferred. Monday to Thursday, 8am-5pm, USD 45 per hour plus benefits.",
  ["periodontal charting", "digital X-rays", "oral hygiene", "dental hygiene license", "CPR certification", "Dentrix"], 10),
 ("eval-08", "Healthcare Opportunity", "MedStaff Partners", "Various locations", "health care",
  "We have exciting healthcare opportunities with our clients. Various roles, various shifts. Good pay. Send us your "
  "CV and we will be in touch.",
  [], 1),
 # --- trades ---
 ("eval-09", "Electrician", "Volt Brothers Electrical", "Manchester, UK", "trades",
  "Volt Brothers Electrical needs a qualified electrician for domestic and commercial installations: rewires, "
  "consumer unit upgrades, fault finding and testing. You hold an NVQ Level 3, the 18th Edition wiring regulations "
  "and a full driving licence. Van and tools provided. 40 hours, Monday to Friday, GBP 42,000.",
  ["rewires", "consumer unit upgrades", "fault finding", "NVQ Level 3", "18th Edition", "driving licence"], 10),
 ("eval-10", "Plumber", "Aqua Fix", "Denver, CO", "trades",
  "Aqua Fix is hiring a plumber for residential service calls: repairing leaks, installing water heaters and clearing "
  "drains. Colorado journeyman plumber license required. Must be reliable. Pay depends on experience.",
  ["repairing leaks", "installing water heaters", "clearing drains", "journeyman plumber license"], 7),
 ("eval-11", "Carpenter / Handyman", "BuildRight", "Ohio", "trades",
  "Looking for a handy person who can do some carpentry and general repairs. Flexible hours. Call us.",
  ["carpentry", "general repairs"], 3),
 ("eval-12", "Welder", "Northern Steelworks", "Sheffield, UK", "trades",
  "Northern Steelworks requires a MIG and TIG welder to fabricate structural steel for construction projects. You read "
  "engineering drawings, work to ISO 9606 standards and use overhead cranes safely. Coded welder certificate and CSCS "
  "card required. Day shift 7:00-15:30, GBP 17 per hour, overtime available.",
  ["MIG", "TIG", "structural steel", "engineering drawings", "ISO 9606", "coded welder certificate", "CSCS card"], 10),
 # --- logistics ---
 ("eval-13", "Warehouse Operative", "SwiftShip Logistics", "Tilburg, Netherlands", "logistics",
  "SwiftShip Logistics is hiring warehouse operatives for picking and packing e-commerce orders. You work with hand "
  "scanners and our WMS, load trucks and keep the floor safe. A reach truck certificate is a plus. Shifts: early "
  "6:00-14:30 or late 14:30-23:00, EUR 14.20 per hour, weekly pay.",
  ["picking", "packing", "hand scanners", "WMS", "reach truck certificate"], 9),
 ("eval-14", "Delivery Driver", "CityLink Couriers", "Chicago, IL", "logistics",
  "CityLink Couriers needs delivery drivers. Drive a company van, deliver parcels on time, be friendly. Valid driver's "
  "license and clean record needed.",
  ["driver's license", "clean record"], 4),
 ("eval-15", "Logistics Coordinator", "Meridian Freight", "Rotterdam, Netherlands", "logistics",
  "Meridian Freight is looking for a logistics coordinator to plan container transport between the port and inland "
  "terminals. You book carriers, track shipments in our TMS, prepare customs documents and solve delays with customers. "
  "You speak English and Dutch, know Incoterms and are fluent in Excel. Full-time, EUR 3,400-3,900 per month.",
  ["TMS", "customs documents", "English", "Dutch", "Incoterms", "Excel"], 9),
 # --- retail ---
 ("eval-16", "Sales Assistant", "Greenleaf Books", "Bristol, UK", "retail",
  "Greenleaf Books, an independent bookshop, is looking for a part-time sales assistant. You will serve customers, "
  "operate the till, unpack deliveries and recommend books. A love of reading and good customer service skills are "
  "essential. 20 hours including Saturdays, GBP 11.44 per hour.",
  ["customer service", "till"], 8),
 ("eval-17", "Store Manager", "FreshMart", "Phoenix, AZ", "retail",
  "FreshMart seeks a store manager to run a grocery store with 45 employees. You will hire and schedule staff, manage "
  "inventory and P&L, and meet sales targets. Requirements: 3 years of retail management, leadership skills, "
  "experience with scheduling software. Salary USD 68,000 plus bonus.",
  ["inventory", "P&L", "retail management", "leadership", "scheduling software"], 9),
 ("eval-18", "Retail Team Member", "Trendy Stores", "", "retail",
  "Work in our store. Help customers. Other duties as needed.",
  [], 1),
 # --- hospitality ---
 ("eval-19", "Barista", "The Copper Kettle Cafe", "Dublin, Ireland", "hospitality",
  "The Copper Kettle Cafe is hiring a barista. You will prepare espresso drinks, steam milk for latte art, take orders "
  "at the till and keep the counter clean to HACCP standards. At least 6 months of barista experience. 30 hours a week, "
  "EUR 13.50 per hour plus tips.",
  ["espresso", "latte art", "till", "HACCP", "barista experience"], 9),
 ("eval-20", "Line Cook", "Harbor Grill", "Boston, MA", "hospitality",
  "Harbor Grill needs a line cook for the grill and saute stations. Knife skills, food safety certification "
  "(ServSafe) and 2 years in a high-volume kitchen required. Evenings and weekends, USD 21 per hour.",
  ["grill", "saute", "knife skills", "food safety certification", "ServSafe"], 9),
 ("eval-21", "Hotel Receptionist", "Alpine Lodge", "Innsbruck, Austria", "hospitality",
  "Alpine Lodge is looking for a receptionist. Check-in and check-out of guests, handling reservations in Opera PMS, "
  "answering phone calls and emails. You speak German and English. Seasonal contract December to April.",
  ["check-in", "reservations", "Opera PMS", "German", "English"], 7),
 ("eval-22", "Kitchen Help", "Various restaurants", "", "hospitality",
  "Kitchen help wanted. Dishwashing and other tasks. Start soon.",
  ["dishwashing"], 2),
 # --- finance ---
 ("eval-23", "Accountant", "Keller & Stone LLP", "Toronto, ON", "finance",
  "Keller & Stone LLP is seeking an accountant for its small business practice. You will prepare financial statements, "
  "corporate tax returns and month-end reconciliations using QuickBooks and CaseWare. CPA designation (or in progress) "
  "and 3 years of public practice experience required. CAD 75,000-85,000, hybrid.",
  ["financial statements", "corporate tax returns", "reconciliations", "QuickBooks", "CaseWare", "CPA"], 10),
 ("eval-24", "Financial Analyst", "Orion Energy", "Houston, TX", "finance",
  "Orion Energy is looking for a financial analyst to support budgeting and forecasting. You build financial models in "
  "Excel, report variances to management and work with SAP. Bachelor's degree in finance or accounting required.",
  ["budgeting", "forecasting", "financial models", "Excel", "SAP"], 8),
 ("eval-25", "Finance Guru", "Stealth Startup", "", "finance",
  "We need someone good with numbers to help us with money stuff. Equity only for now.",
  [], 2),
 # --- education ---
 ("eval-26", "Primary School Teacher", "Oakfield Primary School", "Cardiff, UK", "education",
  "Oakfield Primary School seeks a Year 4 class teacher from September. You will plan and deliver lessons across the "
  "curriculum, assess progress and work with parents. Qualified Teacher Status (QTS) and an enhanced DBS check are "
  "required; Welsh language skills are welcome. Full-time, permanent, main pay scale.",
  ["lessons", "curriculum", "Qualified Teacher Status", "DBS check", "Welsh"], 9),
 ("eval-27", "Math Tutor", "BrightMinds Tutoring", "Online", "education",
  "BrightMinds Tutoring is looking for math tutors for high school students, covering algebra, geometry and "
  "calculus. Sessions are online via Zoom. Flexible hours, USD 25-35 per hour. A degree in math or a related field is "
  "preferred.",
  ["algebra", "geometry", "calculus", "Zoom"], 8),
 ("eval-28", "Teaching Assistant", "Local school", "", "education",
  "Teaching assistant needed to help in the classroom. Must like children.",
  ["classroom"], 3),
 # --- sales ---
 ("eval-29", "Account Executive (SaaS)", "CloudNest", "London, UK", "sales",
  "CloudNest sells HR software to mid-sized companies. As account executive you run demos, manage a pipeline in "
  "Salesforce and close new business deals. 3+ years of B2B SaaS sales experience and strong negotiation skills "
  "required. OTE GBP 90,000 (60/40 split), hybrid.",
  ["demos", "Salesforce", "B2B SaaS sales", "negotiation"], 9),
 ("eval-30", "Sales Representative", "Prime Solutions", "", "sales",
  "Earn unlimited income! Be your own boss. Commission only. Motivated self-starters wanted.",
  [], 1),
 ("eval-31", "Field Sales Representative", "AgriPro Supplies", "Iowa", "sales",
  "AgriPro Supplies needs a field sales rep to visit farms and sell seed and fertilizer. You plan routes, keep "
  "records in our CRM and hit quarterly targets. A driver's license and agriculture knowledge are needed.",
  ["CRM", "driver's license", "agriculture"], 6),
 # --- public sector ---
 ("eval-32", "Policy Officer", "City of Rivertown", "Rivertown, WA", "public sector",
  "The City of Rivertown is hiring a policy officer for its housing department. You will research housing policy, draft "
  "council reports, analyze data in Excel and consult with community groups. A bachelor's degree in public policy or "
  "a related field and excellent writing skills are required. USD 72,000-84,000, pension, 37.5 hours.",
  ["housing policy", "council reports", "Excel", "public policy", "writing skills"], 9),
 ("eval-33", "Administrative Clerk", "County Court Services", "Springfield, IL", "public sector",
  "County Court Services is hiring an administrative clerk to file court records, answer the public at the front "
  "counter and enter case data. Typing of 40 words per minute and Microsoft Office needed.",
  ["court records", "typing", "Microsoft Office"], 7),
 ("eval-34", "Public Service Role", "Government Agency", "", "public sector",
  "An opportunity to serve the public. Details will be discussed at interview.",
  [], 1),
 # --- manufacturing ---
 ("eval-35", "CNC Machinist", "Precision Parts Co", "Stuttgart, Germany", "manufacturing",
  "Precision Parts Co is hiring a CNC machinist to set up and run 5-axis milling machines with Heidenhain controls. You "
  "read technical drawings, measure parts with calipers and micrometers and follow ISO 9001 procedures. Two-shift "
  "operation, EUR 3,600 per month.",
  ["5-axis milling", "Heidenhain", "technical drawings", "calipers", "micrometers", "ISO 9001"], 9),
 ("eval-36", "Production Worker", "Factory", "", "manufacturing",
  "Production workers needed for factory work. Various tasks on the line.",
  [], 2),
 # --- marketing / creative ---
 ("eval-37", "Digital Marketing Specialist", "Bloom Organics", "Vancouver, BC", "marketing",
  "Bloom Organics is looking for a digital marketing specialist to run our Google Ads and Meta campaigns, manage email "
  "newsletters in Mailchimp and report results in Google Analytics. 2 years of performance marketing experience. "
  "Full-time, CAD 60,000-68,000.",
  ["Google Ads", "Meta", "Mailchimp", "Google Analytics", "performance marketing"], 9),
 ("eval-38", "Graphic Designer", "Pixel & Paper", "Lisbon, Portugal", "marketing",
  "Pixel & Paper is looking for a graphic designer for packaging and print work. Adobe Illustrator and InDesign are a "
  "must; some After Effects is nice. Send a portfolio.",
  ["Adobe Illustrator", "InDesign", "After Effects", "packaging", "portfolio"], 5),
 # --- customer service ---
 ("eval-39", "Customer Support Agent", "Wavelink Telecom", "Glasgow, UK", "customer service",
  "Wavelink Telecom needs customer support agents to answer calls and chats about broadband and mobile plans. You "
  "troubleshoot connection problems, log tickets in Zendesk and handle complaints calmly. Good English and computer "
  "skills required, full training given. 37.5 hours on a rota, GBP 24,500.",
  ["troubleshoot", "Zendesk", "complaints", "English", "computer skills"], 9),
 # --- other languages ---
 ("eval-40", "Pflegefachkraft (m/w/d)", "Klinikum Nord", "Hamburg, Deutschland", "health care",
  "Das Klinikum Nord sucht eine Pflegefachkraft für unsere internistische Station. Ihre Aufgaben sind die Grund- und "
  "Behandlungspflege, die Dokumentation im KIS und die Zusammenarbeit mit den Ärzten. Wir erwarten eine "
  "abgeschlossene Ausbildung als Pflegefachkraft, Teamfähigkeit und Erfahrung im Schichtdienst. Vollzeit, Bezahlung "
  "nach TV-L.",
  ["Behandlungspflege", "Dokumentation", "KIS", "Teamfähigkeit", "Schichtdienst"], 9),
 ("eval-41", "Softwareentwickler Java (m/w/d)", "Datenwerk GmbH", "München", "software",
  "Die Datenwerk GmbH sucht einen Softwareentwickler für die Weiterentwicklung unserer Logistiksoftware. Sie arbeiten "
  "mit Java, Spring Boot und PostgreSQL und schreiben Tests mit JUnit. Erfahrung mit Docker und gute Deutschkenntnisse "
  "sind erforderlich. 40 Stunden, hybrides Arbeiten, 65.000 bis 75.000 Euro.",
  ["Java", "Spring Boot", "PostgreSQL", "JUnit", "Docker", "Deutschkenntnisse"], 10),
 ("eval-42", "Camarero/a", "Restaurante El Puerto", "Valencia, España", "hospitality",
  "El Restaurante El Puerto busca camarero o camarera para la temporada de verano. Tus tareas son atender a los "
  "clientes, servir mesas y cobrar en caja. Se requiere experiencia en hostelería y nivel básico de inglés. Jornada "
  "completa, 1.400 euros al mes.",
  ["servir mesas", "caja", "hostelería", "inglés"], 7),
 ("eval-43", "Vendeur en boutique", "Maison Lune", "Lyon, France", "retail",
  "Maison Lune recherche un vendeur pour sa boutique de prêt-à-porter. Vous accueillez les clients, conseillez sur les "
  "produits, gérez la caisse et le réassort. Une première expérience dans la vente et le sens du service sont demandés. "
  "CDI, 35 heures.",
  ["caisse", "réassort", "vente", "sens du service"], 7),
]


# Held out: written after the quality rules were tuned on ROWS; never used to tune them.
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


# Held out, second set: written by another annotator, blind to the skill filters and to
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


def write(rows: list, name: str) -> None:
    out = Path(__file__).with_name(name)
    lines = []
    # A fixed shuffle: any prefix (bench --limit) spreads over occupations and clarity.
    ordered = list(rows)
    random.Random(10).shuffle(ordered)
    for pid, title, company, location, occupation, description, skills, clarity in ordered:
        missing = [s for s in skills if s.lower() not in description.lower()]
        assert not missing, (pid, missing)
        row = {"posting_id": pid, "title": title, "company": company or None, "location": location or None,
               "description": description,
               "gold": {"occupation": occupation, "skills": skills, "clarity": clarity}}
        lines.append(json.dumps(row, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} postings -> {out}")


def main() -> None:
    ids = [row[0] for row in ROWS + HELDOUT_ROWS + HELDOUT2_ROWS]
    assert len(ids) == len(set(ids)), "posting ids repeat"
    write(ROWS, "postings.jsonl")
    write(HELDOUT_ROWS, "heldout.jsonl")
    write(HELDOUT2_ROWS, "heldout2.jsonl")


if __name__ == "__main__":
    main()
