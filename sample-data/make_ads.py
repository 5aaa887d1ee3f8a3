#!/usr/bin/env python3
"""Generate the hifi sample data set: short online ads labelled clickbait / benign.

Nothing here is scraped. Every headline, body line and slot value below was written
by hand; a seeded random generator combines them, so the output is identical on
every run. Writes ads.csv and ads.jsonl next to this script.

    python3 sample-data/make_ads.py
"""
import csv
import json
import datetime
import random
from pathlib import Path

SEED = 20240611
HERE = Path(__file__).resolve().parent

# (gold, borderline) -> number of items, including the hand-written FIXED items below.
QUOTA = {("benign", "0"): 640, ("benign", "1"): 335, ("clickbait", "0"): 190, ("clickbait", "1"): 135}

# ---------------------------------------------------------------------------
# Shared slot values
# ---------------------------------------------------------------------------
CITIES = {
    "$": ["Austin", "Denver", "Portland", "Columbus", "Raleigh", "Tucson", "Madison", "Sacramento",
          "Boise", "Pittsburgh", "Richmond", "Omaha", "Spokane", "Albuquerque", "Charlotte", "Minneapolis"],
    "£": ["Leeds", "Bristol", "Manchester", "Glasgow"],
    "€": ["Dublin", "Lisbon", "Berlin", "Amsterdam", "Lyon"],
}
STREETS = ["Main St", "Oak Ave", "Elm Street", "Market St", "5th Ave", "Harbor Rd", "Maple Dr",
           "Station Rd", "High Street", "Church St", "Riverside Blvd", "Union Square"]
HOURS = ["Mon–Sat 9–6", "daily 7 am–9 pm", "Mon–Fri 8–7, Sat 9–3", "Tue–Sun 10–8", "weekdays 6 am–10 pm",
         "7 days a week, 8 to 8"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PCTS = [10, 15, 20, 25, 30, 35, 40, 50]
SITES = ["Google", "Trustpilot", "Yelp", "Facebook"]

# ---------------------------------------------------------------------------
# Per-category vocabulary.
#   p: (product, min price, max price, price suffix, indexes into b of the brands selling it)
#   b: brands (fictional)
#   a: audiences   pain: problems clickbait promises to fix   ben: helpful goals (verb phrases)
#   pros: groups that "hate this"   thing: topic nouns   claim: specific, checkable claims
#   det: concrete benign body lines   org: publishers of free guides   left: stock phrase
#   bn: extra benign headlines   cb: extra clickbait headlines   local: has physical locations
# ---------------------------------------------------------------------------
CATS = {
    "finance": dict(
        p=[("tax prep with a CPA", 89, 249, "", "14"), ("one-hour retirement planning session", 60, 150, "", "0234"),
           ("budgeting app subscription", 3, 9, "/month", "1"), ("small-business bookkeeping", 99, 299, "/month", "14"),
           ("will and estate planning package", 299, 899, "", "24"), ("credit counseling session", 25, 60, "", "03"),
           ("online tax filing", 19, 59, "", "1")],
        b=["Northbay Credit Union", "Ledgerly", "Harbor Trust", "Clearpath Bank", "Mintwell Advisors"],
        a=["retirees", "freelancers", "first-time homebuyers", "young families", "small-business owners"],
        pain=["credit card debt", "surprise bank fees", "a bad credit score", "tax-season stress"],
        ben=["cut your banking fees", "build an emergency fund", "pay off card debt faster",
             "get ready for tax season", "read your credit report"],
        pros=["banks", "financial advisors", "credit card companies", "tax preparers"],
        thing=["savings", "retirement", "credit score", "tax refund"],
        claim=["flat-fee pricing, no commissions", ("fee-only advisors who don't sell products", "14"),
               ("bank-level 256-bit encryption", "26"), "price agreed upfront in writing",
               ("free review of last year's return", "06"), ("nonprofit, HUD-approved counselors", "5")],
        det=["Book online in about 5 minutes.", ("Meet an advisor at our {city} branch, Mon–Fri 9–5.", "0145"),
             "Full pricing and terms at {domain}.", "Flat fee agreed upfront — no hourly billing.",
             "Evening and Saturday appointments available.", ("Works with 12,000+ banks and card issuers.", "2")],
        org=["the Consumer Credit Council", "the State Department of Revenue"],
        left="appointments left this month", local=True,
        bn=["Free tax clinic at {brand}, {city} branch, {date}", "{brand}: {claim}",
            "Fee-only financial planning in {city}"],
        cb=["Banks are furious: this loophole erases {pain}", "Retire {n} years early with this bizarre method",
            "The {thing} number they never show you"]),
    "health": dict(
        p=[("annual physical with bloodwork", 79, 189, "", "01"), ("telehealth visit", 29, 79, "", "01"),
           ("dental cleaning and exam", 89, 159, "", "2"), ("flu shot", 15, 40, "", "01"), ("eye exam", 49, 99, "", "3"),
           ("physical therapy evaluation", 60, 120, "", "4"), ("vitamin D test", 25, 59, "", "01"),
           ("sleep study consultation", 99, 199, "", "1")],
        b=["Cedar Family Clinic", "Brightside Health", "Lakeview Dental", "ClearSight Optometry",
           "Mendwell Physical Therapy"],
        a=["adults over 50", "new parents", "office workers", "runners", "seniors"],
        pain=["back pain", "belly fat", "joint pain", "high blood pressure", "brain fog"],
        ben=["sleep better", "lower your blood pressure", "protect your back at work",
             "prepare for flu season", "keep your teeth healthy"],
        pros=["doctors", "dentists", "pharmacies", "big pharma"],
        thing=["blood sugar", "cholesterol", "metabolism", "sleep"],
        claim=["same-day appointments on weekdays", "most insurance plans accepted",
               ("board-certified physicians", "01567"), ("licensed physical therapists only", "5"),
               "in-network with 40+ insurers", ("average wait under 15 minutes last quarter", "0234")],
        det=["Walk-ins welcome, Mon–Sat 8–6.", "Book online at {domain} or call 555-01{nn}.",
             "Most insurance accepted; self-pay price shown.", ("Located at {street}, {city}.", "0234567"),
             ("Lab results typically within 48 hours.", "06"), ("See a clinician from home, 7 am–11 pm.", "1")],
        org=["County Public Health", "the Heart Health Association"], left="appointments left this week", local=True,
        bn=["{Product} at {brand}: walk in, no appointment needed", "{brand} now open Saturdays in {city}",
            "New patients welcome at {brand}, {city}"],
        cb=["Doctors are stunned: this kitchen spice melts {pain}",
            "Do this every morning and your {thing} will thank you", "The {thing} lie you've been told for years"]),
    "travel": dict(
        p=[("round-trip flights to Lisbon", 349, 699, "", "01"), ("3-night city break in Rome", 299, 599, " per person", "14"),
           ("7-night Caribbean cruise", 699, 1499, " per person", "1"), ("airport parking", 6, 15, "/day", "02"),
           ("ski lift pass", 59, 129, "/day", "3"), ("downtown hotel room", 89, 199, "/night", "2"),
           ("guided walking tour", 19, 49, "", "4"), ("15-day rail pass", 280, 520, "", "14")],
        b=["Skylark Air", "Wander & Co. Travel", "Harborview Hotels", "Alpine Peak Resort", "Trailmark Tours"],
        a=["budget travelers", "families", "retirees", "solo travelers", "frequent flyers"],
        pain=["expensive flights", "hotel fees", "jet lag", "tourist traps"],
        ben=["save on summer flights", "pack for a week in a carry-on", "avoid hidden hotel fees",
             "plan a family road trip"],
        pros=["airlines", "hotels", "travel agents"], thing=["airfare", "hotel booking", "vacation", "travel insurance"],
        claim=[("free cancellation up to 48 hours before check-in", "15"), ("one checked bag included", "0"),
               ("no resort fees", "5"), "price match within 24 hours of booking", ("direct flights, no layovers", "0"),
               ("lifts open 8:30 am to 4 pm daily", "4"), ("shuttle every 10 minutes to all terminals", "3")],
        det=["Taxes and fees included in the price shown.", "Travel {date} to {date2}; limited availability.",
             "Book at {domain} or through your travel agent.", ("Departures from {city}.", "0127"),
             "Free cancellation within 24 hours of booking.", ("Tours leave daily at 10 am and 2 pm.", "6")],
        org=["the National Travel Safety Office", "the City Tourism Board"], left="seats left at this fare", local=False,
        bn=["Direct flights from {city}, starting {date}", "{brand} summer schedule is out"],
        cb=["Airlines hate it when you book this way", "This hidden button makes flights {pct}% cheaper",
            "Why you should never book a hotel on a Tuesday"]),
    "software": dict(
        p=[("password manager", 2, 5, "/month", "02"), ("project management tool", 8, 15, "/user/month", "1"),
           ("1 TB cloud backup", 5, 10, "/month", "02"), ("invoicing software", 9, 29, "/month", "3"),
           ("antivirus for 5 devices", 29, 59, "/year", "2"), ("video editing app", 9, 19, "/month", "4"),
           ("website builder", 12, 29, "/month", "4"), ("VPN subscription", 3, 9, "/month", "02")],
        b=["Vaultly", "Tasknest", "ByteSafe", "Inkwell Invoicing", "Frameforge"],
        a=["freelancers", "small teams", "students", "remote workers", "photographers"],
        pain=["a slow laptop", "lost files", "hackers", "endless meetings"],
        ben=["back up your photos", "secure your home Wi-Fi", "send invoices faster", "organize a team project"],
        pros=["IT departments", "tech companies", "hackers"], thing=["laptop", "password", "Wi-Fi", "inbox"],
        claim=[("end-to-end encryption with zero-knowledge storage", "027"), "works on Windows, macOS, iOS and Android",
               ("99.9% uptime SLA", "126"), ("free for up to 3 users", "13"),
               ("import from spreadsheets in one click", "13"), ("exports 4K video with no watermark", "5")],
        det=["Free 14-day trial, no credit card required.", "Cancel anytime from your account settings.",
             "Download at {domain}.", "Student discount with a valid school email.",
             "Version {ver} adds dark mode and offline sync."],
        org=["the National Cybersecurity Center", "your local library"], left="founder-pricing spots left", local=False,
        bn=["{brand} {ver} is out: offline mode and faster sync", "Switch to {brand}: import your data in minutes"],
        cb=["Delete this app right now (you probably have it)", "Your {thing} is spying on you. Here's how to tell",
            "This hidden setting makes any laptop twice as fast"]),
    "food": dict(
        p=[("3-recipe meal kit", 49, 69, "/week", "3"), ("large pepperoni pizza", 12, 19, "", "1"),
           ("sourdough loaf", 6, 9, "", "2"), ("weekday lunch special", 9, 14, "", "014"), ("family taco box", 29, 39, "", "0"),
           ("cold brew subscription", 18, 28, "/month", "2"), ("organic produce box", 25, 45, "/week", "3"),
           ("Sunday brunch buffet", 22, 38, " per person", "04")],
        b=["Green Fork Kitchen", "Rosa's Pizzeria", "Crumb & Crust Bakery", "Harvest Box", "Little Saigon Eatery"],
        a=["busy parents", "college students", "home cooks", "vegetarians", "office teams"],
        pain=["sugar cravings", "bloating", "weeknight dinner stress", "huge grocery bills"],
        ben=["cut your grocery bill", "cook faster on weeknights", "meal-prep for the week", "keep herbs fresh longer"],
        pros=["chefs", "restaurants", "grocery stores"], thing=["breakfast", "coffee", "grocery", "snack"],
        claim=["ingredients from farms within 100 miles", ("delivered in 30 minutes or your next order is free", "1"),
               ("every recipe ready in 25 minutes or less", "0"), "no artificial preservatives",
               ("full gluten-free menu", "37"), ("beans roasted every Monday", "5")],
        det=["Delivery in {city}, or pick up at {street}.", "Open {hours}.", ("Skip or pause any week at {domain}.", "056"),
             "Order online or call 555-01{nn}.", ("Allergen info listed for every dish.", "01347")],
        org=["the County Extension Office", "the Farmers Market Association"], left="boxes left for this week", local=True,
        bn=["Fresh sourdough daily at {brand}, {city}", "{brand} now delivers to {city}",
            "Lunch at {brand}: soup, sandwich and drink"],
        cb=["Chefs are begging you to stop doing this with eggs", "The {thing} food that's secretly ruining your health",
            "Eat this one thing before bed and wake up thinner"]),
    "fitness": dict(
        p=[("gym membership", 19, 49, "/month", "03"), ("10-class yoga pass", 89, 149, "", "1"),
           ("personal training session", 45, 90, "", "03"), ("adjustable dumbbell set", 199, 349, "", "0"),
           ("spin class", 15, 28, "", "3"), ("running club membership", 5, 15, "/month", "2"),
           ("rowing machine", 499, 999, "", "0"), ("kids' swim lessons", 60, 120, " for 6 weeks", "4")],
        b=["Iron Oak Gym", "Lotus Flow Yoga", "Pace Runners", "Corefit Studio", "Tidewater Aquatics"],
        a=["beginners", "busy parents", "adults over 40", "runners", "new moms"],
        pain=["belly fat", "bad knees", "stubborn weight", "a sore back"],
        ben=["start running safely", "build strength at home", "improve your posture", "stay active through winter"],
        pros=["personal trainers", "gyms", "fitness influencers"], thing=["workout", "cardio", "protein", "stretching"],
        claim=[("open 24/7, staffed 6 am–10 pm", "0"), ("no joining fee and no annual contract", "05"),
               ("classes capped at 12 people", "147"), ("certified trainers on every shift", "02"),
               ("free parking and towel service", "014"), ("folds flat for storage", "36"), "free returns within 30 days"],
        det=[("First class free for new members.", "0145"), ("Classes run {hours}.", "147"),
             ("Studio at {street}, {city}.", "01247"), "Book or buy in the app or at {domain}.",
             ("Cancel with 30 days' notice.", "05"), ("Free delivery and setup.", "36")],
        org=["the Parks & Recreation Department", "the Sports Medicine Institute"],
        left="spots left in the next intake", local=True,
        bn=["New {brand} studio opens in {city}", "{brand} summer timetable: more early-morning classes"],
        cb=["This 4-minute move burns more fat than an hour of cardio", "Trainers don't want you to see this",
            "Why you should never do crunches again"]),
    "home": dict(
        p=[("home energy audit", 49, 149, "", "1"), ("smart thermostat", 99, 249, "", "01"), ("gutter cleaning", 99, 249, "", "4"),
           ("replacement window", 299, 699, " per window", "2"), ("queen mattress", 399, 1099, "", "3"),
           ("3-room carpet cleaning", 89, 179, "", "4"), ("LED bulb 12-pack", 14, 29, "", "0"), ("3-seat sofa", 499, 1299, "", "3")],
        b=["Riverside Home Supply", "Evenheat HVAC", "Brightline Windows", "Nestwell Furniture", "Fresh Fiber Cleaning"],
        a=["homeowners", "renters", "new homeowners", "landlords", "families"],
        pain=["sky-high energy bills", "mold", "drafty windows", "clutter"],
        ben=["cut your energy bill", "winterize your home", "lower your water bill", "childproof your kitchen"],
        pros=["contractors", "utility companies", "plumbers", "landlords"],
        thing=["energy bill", "thermostat", "mattress", "roof"],
        claim=[("ENERGY STAR certified", "16"), ("licensed and insured, 10-year labor warranty", "3"),
               ("100-night trial with free returns", "4"), ("installation included in the price", "13"),
               ("8% average heating savings, per utility data", "1"), ("fully insured crews", "025"), ("room-by-room savings report included", "0"),
               ("frame warranty for 10 years", "7")],
        det=[("Free in-home estimate; book at {domain}.", "0235"), "Serving {city} and surrounding areas.",
             "Financing available, subject to credit approval.", ("Showroom open {hours}.", "3467"),
             ("Free delivery within 25 miles.", "467")],
        org=["Riverside Power & Light", "the State Energy Office"], left="install slots left this month", local=True,
        bn=["Heat pump rebates now available in {city}", "{brand} showroom now open in {city}"],
        cb=["Homeowners in {city} are ripping out their thermostats. Here's why",
            "Do this one thing and your power company will hate you", "The $1 hack that slashes your electric bill"]),
    "education": dict(
        p=[("online Python course", 49, 199, "", "3"), ("SAT prep class", 299, 799, "", "0"),
           ("8-week Spanish course", 120, 240, "", "12"), ("evening accounting certificate", 900, 1900, "", "2"),
           ("coding bootcamp", 4900, 12900, "", "3"), ("piano lessons", 30, 60, " per lesson", "4"),
           ("GED prep course", 49, 149, "", "02"), ("data analytics workshop", 79, 199, "", "23")],
        b=["Brightpath Academy", "Lingua Hall", "Maple Community College", "CodeHarbor", "Keynote Music School"],
        a=["career changers", "high school juniors", "working parents", "adult learners", "retirees"],
        pain=["a dead-end job", "student debt", "test anxiety"],
        ben=["prepare for the SAT", "learn to code", "find a study method that works", "pay for college"],
        pros=["colleges", "teachers", "recruiters"], thing=["career", "SAT", "language", "resume"],
        claim=["accredited by the regional accreditation board", ("taught by working engineers", "047"),
               ("credits transfer to Maple Community College", "36"), ("financial aid available for eligible students", "34"),
               ("78% of last year's graduates employed within 6 months, per our outcomes report", "34"),
               ("average score gain of 110 points on official practice tests", "1"), ("all levels, ages 6 and up", "5")],
        det=[("Next cohort starts {date}.", "0123467"), "Evening and weekend classes available.",
             "Online info session {weekday} at 6 pm.", "Enroll at {domain}.", "Campus at {street}, {city}."],
        org=["the State Student Aid Commission", "the public library"], left="seats left in the {date} cohort", local=True,
        bn=["{brand} fall enrollment is open", "Free info session at {brand}, {weekday} 6 pm"],
        cb=["Learn any language in 7 days with this weird method", "Recruiters don't want you to know this resume trick",
            "Why college is a scam (and what to do instead)"]),
    "fashion": dict(
        p=[("linen shirts", 29, 59, "", "01"), ("wool winter coat", 149, 299, "", "01"), ("leather ankle boots", 99, 199, "", "2"),
           ("selvedge denim jeans", 79, 149, "", "3"), ("kids' rain jackets", 25, 45, "", "4"), ("merino sweaters", 59, 99, "", "01"),
           ("running sneakers", 69, 129, "", "2"), ("tailoring and alterations", 15, 40, "", "03")],
        b=["Thread & Field", "Northside Outfitters", "Marlowe Shoes", "Denimworks", "Little Puddle"],
        a=["commuters", "petite shoppers", "new dads", "teachers", "college grads"],
        pain=["a closet full of nothing to wear", "shoes that hurt", "jeans that never fit"],
        ben=["build a capsule wardrobe", "find jeans that fit", "care for wool and cashmere",
             "pick the right running shoe"],
        pros=["stylists", "department stores", "fashion brands"], thing=["wardrobe", "jeans", "shoe", "closet"],
        claim=["free returns within 60 days", ("made from 100% organic cotton", "34"), ("free hemming on all jeans", "3"),
               ("sizes XS to 4X", "01356"), "every seam guaranteed for 2 years", ("ready in 3 business days", "7")],
        det=["Free shipping on orders over {sym}75.", "Shop online or at our {city} store.",
             ("Size and fit guide at {domain}.", "0123456"), "Exchanges in store or by mail.",
             ("New colors in stock now.", "0145")],
        org=["the Textile Recycling Network", "our in-house tailors"], left="left in stock in most sizes", local=True,
        bn=["{brand} spring collection is in stores", "{brand}: free alterations on full-price items"],
        cb=["Stylists are begging women over 40 to stop wearing this",
            "This one closet mistake makes you look 10 years older", "The jeans trick department stores hide"]),
    "auto": dict(
        p=[("oil change", 39, 79, "", "0"), ("set of four all-season tires", 399, 799, "", "2"), ("brake inspection", 19, 49, "", "02"),
           ("certified pre-owned sedan", 14900, 24900, "", "1"), ("full car detailing", 99, 219, "", "3"),
           ("EV home charger installation", 699, 1499, "", "4"), ("windshield replacement", 199, 399, "", "0")],
        b=["Midtown Auto Care", "Greenlight Motors", "TreadRight Tires", "Sparkle Auto Spa", "Voltway Charging"],
        a=["commuters", "new drivers", "EV owners", "families", "rideshare drivers"],
        pain=["high gas prices", "costly repairs", "expensive car insurance"],
        ben=["prepare your car for winter", "check your tire pressure", "lower your insurance premium",
             "extend your EV battery life"],
        pros=["mechanics", "car dealers", "insurance companies"], thing=["car", "tire", "engine", "insurance"],
        claim=[("ASE-certified technicians", "026"), ("12-month / 12,000-mile warranty on parts and labor", "026"),
               ("free alignment check with every tire set", "1"), ("no-haggle pricing on every car", "3"),
               ("same-day service on most repairs", "026"), ("hand wash only, no brushes", "4"),
               ("licensed electricians, permit included", "5")],
        det=["Book online or call 555-01{nn}.", "Shop at {street}, {city}, open {hours}.",
             ("Free shuttle within 5 miles.", "0126"), ("Price includes installation and balancing.", "1"),
             ("Financing available on approved credit.", "135")],
        org=["the State Highway Safety Office", "the Motor Vehicle Department"],
        left="service slots left this week", local=True,
        bn=["Winter tire changeover at {brand}, {city}", "{brand} now services hybrids and EVs"],
        cb=["Mechanics hate this 2-minute fix", "Car dealers are panicking over this new rule",
            "Never fill up your tank on this day of the week"]),
    "pets": dict(
        p=[("dog grooming", 45, 85, "", "0"), ("24 lb bag of grain-free dog food", 49, 79, "", "4"),
           ("cat vaccination package", 69, 129, "", "1"), ("30-minute dog walk", 18, 28, "", "2"),
           ("puppy training class", 120, 220, " for 6 weeks", "3"), ("pet insurance", 15, 45, "/month", "2"),
           ("overnight boarding", 35, 65, "/night", "2"), ("self-cleaning litter box", 199, 499, "", "4")],
        b=["Happy Tails Grooming", "Whisker Vet Clinic", "Paws & Co.", "Good Boy Training", "Kibble Kitchen"],
        a=["pet owners", "new pet parents", "owners of senior pets", "busy pet parents"],
        pain=["itchy skin", "a picky eater", "dog anxiety", "fleas"],
        ben=["crate-train a new puppy", "keep your cat at a healthy weight", "prepare your pet for travel",
             "spot signs of dental disease"],
        pros=["vets", "pet food companies", "groomers"], thing=["dog food", "cat litter", "pet food", "grooming"],
        claim=[("Fear Free certified staff", "026"), ("vet-formulated recipe", "1"), ("insured, background-checked walkers", "3"),
               ("covers up to 90% of eligible vet bills", "5"), ("open late on weekdays for emergencies", "2"),
               ("certified trainers, positive methods only", "4"), ("30-day money-back guarantee", "17")],
        det=["Book at {domain} or call 555-01{nn}.", ("Open {hours}.", "0246"), ("Located at {street}, {city}.", "0246"),
             ("First visit includes a free nail trim.", "0"), ("Auto-ship saves 5%; pause anytime.", "1")],
        org=["the County Animal Shelter", "the Veterinary Medical Association"],
        left="appointments left this week", local=True,
        bn=["Adoption day with {brand} and the County Animal Shelter, {date}", "{brand} now open in {city}"],
        cb=["Vets are warning every dog owner about this food", "Your cat is trying to tell you something. Here's what",
            "If your dog does this, call a vet immediately"]),
    "local-services": dict(
        p=[("house cleaning", 99, 189, "", "0"), ("lawn mowing", 35, 60, " per visit", "1"), ("plumbing repair call", 79, 149, "", "2"),
           ("locksmith service", 59, 119, "", "3"), ("moving help with 2 movers", 99, 159, "/hour", "4"),
           ("junk removal", 99, 299, "", "4"), ("drain cleaning", 89, 179, "", "2"), ("handyman visit", 69, 129, "/hour", "5")],
        b=["Sparkle Clean Co.", "GreenEdge Lawn Care", "Rapid Rooter Plumbing", "A1 Lock & Key", "Two Guys Moving",
           "Fix-It Fred Handyman"],
        a=["homeowners", "renters", "seniors", "small offices", "landlords"],
        pain=["clogged drains", "a messy garage", "lawn weeds"],
        ben=["hire a licensed contractor", "get ready for moving day", "keep drains clear", "choose a cleaning service"],
        pros=["plumbers", "contractors", "landlords"], thing=["drain", "lawn", "moving", "cleaning"],
        claim=["licensed, bonded and insured", "upfront flat-rate pricing", "same-day service if you call before 2 pm",
               "background-checked staff", "we come back free within 48 hours if you're not satisfied"],
        det=["Serving {city} and nearby towns.", "Call 555-01{nn} for a free quote.", "Online booking at {domain}.",
             "Available {hours}.", "Family-owned since {year}."],
        org=["the city Consumer Protection Office", "the Better Business Council"],
        left="openings left this week", local=True,
        bn=["Licensed plumber in {city}, same-day service", "{brand}: flat-rate moving help"],
        cb=["Plumbers hate this $2 drain trick", "What your cleaner isn't telling you",
            "{Audience} in {city} are ditching lawn services for this"]),
    "beauty": dict(
        p=[("vitamin C serum", 19, 39, "", "03"), ("haircut and style", 35, 75, "", "14"), ("gel manicure", 30, 50, "", "2"),
           ("SPF 50 sunscreen", 12, 24, "", "3"), ("60-minute facial", 69, 129, "", "0"), ("eyelash extensions", 89, 179, "", "0"),
           ("fragrance-free moisturizer", 14, 28, "", "03"), ("beard trim", 15, 25, "", "4")],
        b=["Glow Lab", "Studio Nine Salon", "Polished Nail Bar", "Sunward Skincare", "The Barber's Chair"],
        a=["busy professionals", "people with sensitive skin", "first-time customers", "students", "regulars"],
        pain=["wrinkles", "acne", "dark circles", "thinning hair"],
        ben=["choose a sunscreen", "build a simple skincare routine", "protect colored hair", "care for sensitive skin"],
        pros=["dermatologists", "beauty brands", "plastic surgeons"], thing=["skincare", "wrinkle", "hair", "anti-aging"],
        claim=[("dermatologist-tested and fragrance-free", "036"), ("cruelty-free and vegan", "0236"),
               ("reef-safe mineral formula", "3"), ("licensed stylists with 10+ years' experience", "1457"),
               ("full ingredient list on every label", "036"), ("hospital-grade sterilized tools", "25")],
        det=[("Walk-ins welcome {hours}.", "1247"), "Book or buy at {domain}.", ("Salon at {street}, {city}.", "12457"),
             ("Sold at pharmacies nationwide and online.", "036"), ("Patch test recommended before first use.", "0356")],
        org=["the Dermatology Society", "the Skin Cancer Foundation"], left="chair appointments left this week", local=True,
        bn=["{brand} opens a second salon in {city}", "New at {brand}: {product} in travel size"],
        cb=["Dermatologists are speechless: this erases wrinkles overnight", "Plastic surgeons hate this 50-cent cream",
            "Women over 40: stop using moisturizer. Do this instead"]),
    "electronics": dict(
        p=[("noise-canceling headphones", 99, 299, "", "13"), ("55-inch 4K TV", 399, 799, "", "3"),
           ("refurbished laptop", 299, 699, "", "34"), ("phone screen repair", 59, 149, "", "2"), ("smartwatch", 149, 349, "", "03"),
           ("20,000 mAh power bank", 29, 59, "", "03"), ("mesh Wi-Fi system", 149, 299, "", "03"), ("wireless earbuds", 49, 149, "", "13")],
        b=["Voltra", "Kestrel Audio", "FixIt Phone Repair", "Brightwave Electronics", "Northcore Computers"],
        a=["gamers", "students", "remote workers", "commuters", "parents"],
        pain=["a dying phone battery", "slow Wi-Fi", "a cracked screen"],
        ben=["speed up home Wi-Fi", "extend your phone's battery life", "pick a laptop for school",
             "recycle old electronics"],
        pros=["phone companies", "tech giants", "electronics stores"], thing=["phone", "battery", "Wi-Fi", "laptop"],
        claim=[("up to 30 hours of battery life", "047"), "2-year warranty included",
               ("tested refurbished units with a 90-day return window", "2"), ("Wi-Fi 6E support", "6"),
               ("most screen repairs done in under an hour", "3"), ("Dolby Vision and HDR10+", "1"),
               ("charges a phone about four times", "5")],
        det=["In stock at our {city} store.", ("Free shipping and 30-day returns.", "0124567"),
             "Trade in your old device for credit at {domain}.", ("Specs and comparisons at {domain}.", "0124567"),
             "Open {hours}."],
        org=["the Consumer Electronics Recycling Program", "the city library's tech desk"],
        left="left at this price", local=True,
        bn=["{brand} {product} back in stock", "Phone repair in {city}: most screens in an hour"],
        cb=["Phone companies don't want you to know about this charger trick",
            "Stop charging your phone overnight — here's the shocking reason",
            "This $20 gadget makes your Wi-Fi 10x faster"]),
}

# ---------------------------------------------------------------------------
# Templates. Headlines and body lines are combined; all slots come from one item.
# ---------------------------------------------------------------------------
# Benign, clear: what it is, price/place/time, honest call to action.
BENIGN_HEAD = [
    "{Product} from {price} at {brand}", "{brand}: {product}, {price}", "New at {brand}: {product}",
    "{Product} in {city} — {price}", "{brand} {product} now available in {city}", "{brand} — {product} from {price}",
    "Now open in {city}: {brand}", "{Product} for {audience}", "Try {brand_s} {product} for {price}",
    "{Product}: compare options and prices", "{brand} | {Product} | {city}", "Introducing {product} from {brand}",
    "{Product}, {price} — {brand}", "Looking for {product}? {brand} has it from {price}",
    "{Product} near {street}, {city}", "{brand} {product}: {price}, {claim}", "{Product} with {brand}, {price}",
]
BENIGN_BODY = [
    "Prices from {price}. Details at {domain}.", "Available online and at our {city} location.",
    "See {domain} for prices, terms and availability.", "Questions? Chat with our team at {domain}.",
    "Serving {city} since {year}.", "Order online or call 555-01{nn}.", "Open {hours}.",
    "{Claim}.", "Pay {price}; no hidden fees.", "Learn more at {domain}.",
]
# Benign, borderline: mild urgency tied to a real date/stock, strong but checkable claims,
# numbers-led headlines that deliver information, promotional tone with concrete facts.
# (headline, body pool)
BENIGN_BORDER = [
    ("Sale ends {weekday}: {pct}% off {product}", "offer"),
    ("Last chance — {product} {pct}% off until {date2}", "offer"),
    ("Only {n} {left}: {product}, {price}", "offer"),
    ("Hurry, offer ends {date2}: {product} from {price}", "offer"),
    ("Don't miss it: {product} {pct}% off through {weekday}", "offer"),
    ("Flash sale, {date} to {date2}: {product} from {price}", "offer"),
    ("Ends at midnight {date2}: {pct}% off {product} at {brand}", "offer"),
    ("Through {date2} only: {product} for {price}", "offer"),
    ("{n} ways to {ben} — free guide from {org}", "guide"),
    ("{n} tips to {ben}, from {org}", "guide"),
    ("How to {ben}: a free {n}-step checklist", "guide"),
    ("Want to {ben}? {n} things that actually work", "guide"),
    ("{Product} — {claim}", "claim"),
    ("Why {audience} choose {brand}: {claim}", "claim"),
    ("{brand} {product}: {claim}", "claim"),
    ("Rated {rating}/5 by {reviews} customers: {brand} {product}", "review"),
    ("The {product} everyone in {city} asks about — now {price}", "claim"),
    ("Switching to {brand}? Here's what you get: {claim}", "claim"),
    ("Big news for {audience}: {product} now {price}", "claim"),
    ("You'll love this price: {product} for {price}", "claim"),
    ("Yes, really: {product} for {price}", "claim"),
    ("Amazing deal! {Product} at {brand}, {price}", "claim"),
]
BORDER_BODY = {
    "offer": ["Offer ends {date2} at 11:59 pm. Terms at {domain}.", "One per customer; ends {date2}.",
              "Regular price {price_reg}; sale price applies until {date2}.",
              "Valid {date} to {date2}; see terms at {domain}.", "Discount applied at checkout, no code needed."],
    "guide": ["Free PDF, no sign-up or email required.", "Includes a printable checklist and worked examples.",
              "Written by {org}; free copies at your local library.", "Read it online in about 10 minutes."],
    "claim": ["Details and terms at {domain}.", "From {price}. Full details at {domain}.",
              "Compare options side by side at {domain}.", "See what's included at {domain}."],
    "review": ["Based on {reviews} verified reviews on {site} as of {month} {ryear}.",
               "Average of {reviews} reviews on {site}; read them all at {domain}.",
               'Rated "Excellent" on {site}, {reviews} reviews as of {month} {ryear}.'],
}
# Clickbait, clear: curiosity gaps, shock, "doctors hate", fake urgency, empty listicles.
CLICK_HEAD = [
    "You won't believe what {audience} in {city} are doing about {pain}", "This one weird trick wipes out {pain}",
    "{Pros} hate this simple trick", "{Pros} don't want you to know this about your {thing}",
    "{n} {thing} secrets nobody tells you (#{k} is shocking)",
    "She tried this for {days} days. What happened next is unbelievable", "Warning: if you have {pain}, read this now",
    "What they found will change how you think about {thing} forever", "The {thing} scandal nobody is talking about",
    "Stop everything — this changes your {thing} forever",
    "{Audience}: do this before bed and say goodbye to {pain}",
    "Scientists are speechless: this ends {pain} in {days} days", "Everyone in {city} is talking about this",
    "Shocking photos: what {pros} are hiding", "I was skeptical until I saw this {thing} hack",
    "Only the smartest {audience} know this", "It's finally happening... and {pros} are furious",
    "They laughed when I tried this. Then they saw the results", "The secret {pros} kept for decades, exposed",
    "{n} signs your {thing} is a ticking time bomb", "This changes everything for {audience}!!!",
    "URGENT: {audience} must see this before it's banned", "What happens when you never pay for {thing} again?",
]
CLICK_BODY = [
    "Click to see the results they don't want you to see.", "The answer will shock you.",
    "This video is being taken down soon. Watch now before it's gone.", "Thousands are already doing it. Are you next?",
    "Tap here to find out — before it's too late.", "Number {k} left us speechless.",
    "It takes 30 seconds and it's 100% guaranteed to work.", "Experts are baffled. See why.",
    "Don't wait: this page may be deleted at midnight.", "Find out what happened next.",
    "You'll kick yourself if you miss this.", "{Pros} are trying to shut this down.",
    "One simple step. Unbelievable results.", "The truth is finally out.",
    'One reader wrote: "I wish I\'d known this years ago."',
]
# Clickbait, borderline: a normal-looking ad with a withheld key fact, unverifiable hype,
# urgency with no date or quantity, or a listicle teaser wrapped around a real product.
CLICK_BORDER = [  # (headline, body pool)
    ("{brand_s} new {product}: the one feature nobody's talking about", "what"),
    ("The {thing} mistake most {audience} make", "what"), ("Why {audience} in {city} are quietly switching to {brand}", "what"),
    ("{n} reasons {audience} love our {product} (the last one surprised us)", "what"),
    ("Is your {thing} costing you more than you think?", "what"), ("What {audience} should know before {month}", "what"),
    ("{brand} just changed everything about your {thing}", "what"), ("The {product} {pros} won't tell you about", "what"),
    ("There's a reason {audience} keep choosing {brand}", "what"),
    ("{brand} customers keep saying the same thing about our {product}", "what"),
    ("Our customers saved up to {pct}% — see how much you could save", "what"),
    ("{Product} for {price}? We didn't expect this much", "hype"),
    ("{Product}: the one {audience} can't stop talking about", "hype"), ("{brand} {product}: you'll never go back", "hype"),
    ("{Audience}, this {product} is about to change everything", "hype"),
    ("{Product} from {brand}: so good it should be illegal", "hype"),
    ("Prices like this won't last — {product} from {price}", "urgency"),
    ("Ending soon! {Product} deals you can't afford to miss", "urgency"),
    ("{Product} at {price} — going fast, don't wait", "urgency"), ("Only a few left! {Product} at {brand}", "urgency"),
    ("{Pros} have a clear favorite when it comes to {product}", "which"),
    ("Not every {product} deal is equal. Here's the one {audience} pick", "which"),
]
CLICK_BORDER_BODY = {
    "what": ["Find out what it is at {domain}.", "The reason might surprise you. Details at {domain}.",
             "Learn the secret at {domain}.", "Find out at {domain} — it takes a minute."],
    "hype": ["You'll see why everyone's talking.", "Results guaranteed to change your routine.",
             "Trust us, you'll want to see this.", "Once you try it, there's no going back.",
             'Customers call it "life-changing." See why at {domain}.'],
    "urgency": ["Stock is going fast and may not come back.", "Available at {brand} while it lasts.",
                "Once it's gone, it's gone.", "Prices could go up any day now."],
    "which": ["See which one at {domain}.", "Our pick might surprise you. See it at {domain}."],
}

# Hand-written messy items: non-ASCII, other languages, CJK, quotes and commas.
# (text, gold, category, borderline)
FIXED = [
    ("Café Lumière opens on Rue Oberkampf\nCroissant 1,20 €, espresso 1,80 € — tous les jours 7h–19h.", "benign", "food", "0"),
    ("Vuelos a Madrid desde 39 €\nIda y vuelta con Skylark Air; reserva antes del 30 de junio. Tasas incluidas.",
     "benign", "travel", "1"),
    ("¡No vas a creer lo que los chefs esconden en tu cocina!\nHaz clic para verlo antes de que lo borren.",
     "clickbait", "food", "0"),
    ("Winterreifen-Wechsel in München — 39 €\nTermin online bei Reifen Huber, Mo–Sa 8–18 Uhr.", "benign", "auto", "0"),
    ("Ärzte sind sprachlos: Dieses Getränk schmilzt Bauchfett über Nacht\nKlicken Sie hier, bevor das Video gelöscht wird.",
     "clickbait", "health", "0"),
    ("Matcha kit \"宇治の春\" — ceremonial grade, 30 g for $24\nShips from Kyoto in 5–7 days. Whisk and bowl included.",
     "benign", "food", "0"),
    ("The 抹茶 latte powder baristas won't name\nIt's in every café you love. Guess which one at kissa-co.com.",
     "clickbait", "food", "1"),
    ("\"Crème brûlée\" class in Lyon, Saturday 14:00\n€45 per person, ingredients included; 8 places per session.",
     "benign", "education", "0"),
    ("Zürich to Zermatt by rail — CHF 89\nSeat reservation included, departures every hour.", "benign", "travel", "0"),
    ("Les banquiers détestent cette astuce… et vous allez l'adorer\nDécouvrez-la avant qu'il ne soit trop tard.",
     "clickbait", "finance", "0"),
    ("Clases de yoga en Austin — primera clase gratis\nFirst class free for new students; Spanish and English sessions, "
     "Tue & Thu 6 pm.", "benign", "fitness", "0"),
    ("Señor Taco's \"Taco Tuesday\": 3 tacos, $7.50\nAll day Tuesday in Albuquerque, dine-in or takeout.",
     "benign", "food", "0"),
    ("Naïve about crypto? The \"experts\" won't tell you this…\nOne coin, one secret, one shot. Click now.",
     "clickbait", "finance", "0"),
    ("Último día mañana: 20% off flights to São Paulo\nFrom Miami with Skylark Air; booking closes March 31, 11:59 pm ET.",
     "benign", "travel", "1"),
]


def cap(s):
    return s[:1].upper() + s[1:]


def slug(brand):
    return "".join(ch for ch in brand.lower() if ch.isalnum()) + ".com"


def money(rng, sym, lo, hi):
    amt = rng.randint(lo, hi)
    if amt >= 1000:
        return f"{sym}{amt // 100 * 100 - 1:,}" if rng.random() < 0.5 else f"{sym}{amt // 100 * 100:,}"
    if amt > 5 and rng.random() < 0.4:
        return f"{sym}{amt - 1}.99"
    return f"{sym}{amt}"


def fits(options, pi):
    """Plain strings suit every product; (text, "indexes") only the listed products."""
    return [o if isinstance(o, str) else o[0] for o in options if isinstance(o, str) or str(pi) in o[1]]


def make_slots(rng, cat):
    c = CATS[cat]
    r = rng.random()
    sym = "$" if r < 0.82 else ("£" if r < 0.92 else "€")
    pi = rng.randrange(len(c["p"]))
    product, lo, hi, suffix, sellers = c["p"][pi]
    brand = c["b"][int(rng.choice(sellers))]
    start = datetime.date(2025, 1, 1) + datetime.timedelta(days=rng.randrange(365))
    end = start + datetime.timedelta(days=rng.randint(4, 10))
    price = money(rng, sym, lo, hi) + suffix
    n = rng.randint(3, 12)
    s = dict(
        brand=brand, product=product, Product=cap(product), sym=sym, price=price,
        price_reg=money(rng, sym, hi, int(hi * 1.3) + 1) + suffix,
        city=rng.choice(CITIES[sym]), street=f"{rng.randint(10, 990)} {rng.choice(STREETS)}",
        pct=rng.choice(PCTS), n=n, k=rng.randint(2, n), days=rng.choice([7, 10, 14, 21, 30]),
        weekday=WEEKDAYS[end.weekday()], month=MONTHS[start.month - 1], ryear=rng.choice([2024, 2025]),
        date=f"{MONTHS[start.month - 1]} {start.day}", date2=f"{MONTHS[end.month - 1]} {end.day}",
        year=rng.randint(1978, 2021), brand_s=brand + ("'" if brand.endswith("s") else "'s"),
        audience=rng.choice(c["a"]), pain=rng.choice(c["pain"]), ben=rng.choice(c["ben"]),
        pros=rng.choice(c["pros"]), thing=rng.choice(c["thing"]), claim=rng.choice(fits(c["claim"], pi)),
        org=rng.choice(c["org"]), left=c["left"], hours=rng.choice(HOURS), nn=f"{rng.randint(10, 99)}",
        domain=slug(brand), rating=f"{rng.randint(43, 49) / 10:.1f}", reviews=f"{rng.randint(120, 9000):,}",
        site=rng.choice(SITES), ver=f"{rng.randint(2, 9)}.{rng.randint(0, 9)}",
    )
    for key in ("audience", "pros", "claim", "ben"):
        s[cap(key)] = cap(s[key])
    s["det"] = fits(c["det"], pi)
    return s


def fill(template, s):
    text = template.format(**s)
    if "{" in text:  # slot values may themselves contain slots (e.g. "seats left in the {date} cohort")
        text = text.format(**s)
    return cap(text)


def pool(templates, cat):
    """Drop templates naming a city or street for categories without physical locations."""
    if CATS[cat]["local"]:
        return templates
    return [t for t in templates if "{city}" not in t and "{street}" not in t]


def compose(rng, cat, gold, border):
    c = CATS[cat]
    s = make_slots(rng, cat)
    nbody = 1 if rng.random() < 0.45 else 2
    if gold == "benign" and border == "0":
        head = rng.choice(pool(BENIGN_HEAD + c["bn"], cat))
        body = rng.sample(s["det"] + pool(BENIGN_BODY, cat), nbody)
    elif gold == "benign":
        head, kind = rng.choice([h for h in BENIGN_BORDER if h[0] in pool([h[0]], cat)])
        body = [rng.choice(BORDER_BODY[kind])]
        if nbody == 2 and kind != "guide":
            body.append(rng.choice(s["det"]))
    elif border == "0":
        head = rng.choice(CLICK_HEAD + c["cb"])
        body = rng.sample(CLICK_BODY, nbody)
    else:
        head, kind = rng.choice([h for h in CLICK_BORDER if h[0] in pool([h[0]], cat)])
        body = [rng.choice(CLICK_BORDER_BODY[kind])]
        if nbody == 2:  # a perfectly normal detail line before the teaser makes it subtler
            body.insert(0, rng.choice(s["det"]))
    return "\n".join(fill(line, s) for line in [head] + body)


def generate():
    rng = random.Random(SEED)
    cats = list(CATS)
    items, seen = [], set()
    for text, gold, cat, border in FIXED:
        items.append(dict(text=text, gold=gold, category=cat, borderline=border))
        seen.add(text)
    for (gold, border), total in QUOTA.items():
        need = total - sum(1 for it in items if it["gold"] == gold and it["borderline"] == border)
        made, tries = 0, 0
        while made < need:
            tries += 1
            if tries > need * 50:
                raise SystemExit(f"could not make {need} unique {gold}/{border} ads")
            cat = rng.choice(cats)
            text = compose(rng, cat, gold, border)
            if text in seen:
                continue
            seen.add(text)
            items.append(dict(text=text, gold=gold, category=cat, borderline=border))
            made += 1
    rng.shuffle(items)
    return [dict(id=f"ad-{i:04d}", **it) for i, it in enumerate(items, 1)]


def main():
    rows = generate()
    fields = ["id", "text", "gold", "category", "borderline"]
    with open(HERE / "ads.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with open(HERE / "ads.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({k: r[k] for k in fields}, ensure_ascii=False) + "\n")
    n = len(rows)
    cb = sum(r["gold"] == "clickbait" for r in rows)
    bl = sum(r["borderline"] == "1" for r in rows)
    print(f"total: {n}")
    print(f"clickbait: {cb} ({cb / n:.1%})  benign: {n - cb} ({(n - cb) / n:.1%})")
    print(f"borderline: {bl} ({bl / n:.1%})  "
          f"[benign {sum(r['borderline'] == '1' and r['gold'] == 'benign' for r in rows)}, "
          f"clickbait {sum(r['borderline'] == '1' and r['gold'] == 'clickbait' for r in rows)}]")
    print(f"non-ASCII texts: {sum(any(ord(ch) > 127 for ch in r['text']) for r in rows)}")
    print("per category:", ", ".join(f"{c}={sum(r['category'] == c for r in rows)}" for c in CATS))


if __name__ == "__main__":
    main()
