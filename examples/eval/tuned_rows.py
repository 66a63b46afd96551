"""The labelled postings the skill filters were tuned on (examples/eval/postings.jsonl):
(posting_id, title, company, location, occupation, description, gold skills, clarity).
build.py writes them; examples/eval/GUIDELINE.md says how they are labelled."""

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
