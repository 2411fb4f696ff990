"""French words for the codes the events and services use, for staff pages.

A code with no label is shown as it is (a new reason appears before its label)."""

from __future__ import annotations

REFUSALS = {
    "campaign_closed": "candidature hors délai",
    "incomplete_at_deadline": "dossier incomplet à la date limite",
    "duplicate_application": "candidature en double",
    "no_places_left": "plus de place disponible",
    "below_shortlist_threshold": "dossier sous le seuil de présélection",
    "absent_from_interview": "absent à l'entretien",
    "below_admission_threshold": "sous le seuil d'admission",
    "not_ranked_in_time": "non classé à temps (dossier non revu ou entretien non passé)",
    "ineligible": "prérequis non remplis",
}
STATUSES = {
    "received": "reçu (incomplet)",
    "in_review": "en cours d'examen",
    "shortlisted": "présélectionné",
    "interviewed": "entretien passé",
    "refused": "refusé",
    "waitlisted": "liste complémentaire",
    "offered": "admis (réponse attendue)",
    "accepted": "a accepté",
    "declined": "a refusé la place",
    "expired": "offre expirée",
    "withdrawn": "désisté",
    "closed": "clos par la candidature",
    "waitlist_closed": "liste complémentaire close",
    "admitted": "admis",
    "complete": "complet",
}
FUNNEL = {
    "received": "Reçues",
    "complete": "Complètes",
    "refused": "Refusées",
    "shortlisted": "Présélectionnées",
    "interviewed": "Entretiens passés",
    "admitted": "Admises",
    "accepted": "Acceptées",
    "declined": "Déclinées",
    "expired": "Expirées",
    "waitlisted": "En liste complémentaire",
    "withdrawn": "Désistements",
}
TEMPLATES = {
    "application_received": "accusé de réception",
    "application_completed": "dossier complet",
    "application_refused": "candidature refusée",
    "application_withdrawn": "désistement enregistré",
    "document_rejected": "pièce refusée",
    "incomplete_reminder": "relance dossier incomplet",
    "submission_deadline_moved": "nouvelle date limite de dépôt",
    "interview_scheduled": "convocation à l'entretien",
    "admitted": "admission",
    "promoted": "admission depuis la liste complémentaire",
    "waitlisted": "liste complémentaire",
    "waitlist_rank_changed": "nouveau rang en liste complémentaire",
    "waitlist_closed": "fin de la liste complémentaire",
    "selection_refused": "refus après sélection",
    "offer_reminder": "rappel de réponse",
    "offer_accepted": "acceptation enregistrée",
    "offer_declined": "refus de la place enregistré",
    "offer_expired": "offre expirée",
    "two_year_plan_recorded": "parcours en deux ans enregistré",
}
CHANNELS = {"email": "courriel", "sms": "SMS"}
OUTCOMES = {"sent": "envoyé", "failed": "échec", "pending": "en attente", "retry": "nouvel essai"}
DOCUMENTS = {
    "cv": "CV",
    "cover_letter": "lettre de motivation",
    "job_description": "fiche de poste",
    "diploma": "copie du diplôme le plus élevé",
    "vapp_decision": "décision de VAPP",
}
ELIGIBILITY = {
    "m1_requires_bac3_or_vapp": "M1 : bac+3 ou VAPP requis",
    "m2_initial_requires_m1": "M2 en formation initiale : M1 requis",
    "m2_initial_requires_education_field": (
        "M2 en formation initiale : M1 du champ de l'éducation requis"
    ),
    "m2_requires_m1_or_vapp": "M2 : M1 ou VAPP requis",
    "m2_requires_training_experience": "M2 : expérience de formation requise",
}
PHASES = {
    "main_submissions_open": "ouverture des candidatures",
    "main_submissions_closed": "clôture des candidatures",
    "main_interviews": "entretiens",
    "main_committee": "commission",
    "complementary_submissions_open": "ouverture de la session complémentaire",
    "complementary_submissions_closed": "clôture de la session complémentaire",
    "complementary_interviews": "entretiens complémentaires",
    "complementary_committee": "commission complémentaire",
    "academic_year_start": "rentrée universitaire",
    "offer_deadline": "date limite de réponse à une offre",
}
REGIMES = {
    "formation_initiale": "formation initiale",
    "formation_continue": "formation continue",
    "reprise_etudes": "reprise d'études",
    "contrat_professionnalisation": "contrat de professionnalisation",
    "alternance": "alternance",
}
ROUNDS = {"main": "session principale", "complementary": "session complémentaire"}
EVENTS = {
    "ifuno.candidature.application_received.v1": "candidature reçue",
    "ifuno.candidature.application_completed.v1": "dossier complet",
    "ifuno.candidature.document_rejected.v1": "pièce refusée",
    "ifuno.candidature.submission_deadline_moved.v1": "date limite de dépôt déplacée",
    "ifuno.candidature.eligibility_overridden.v1": "prérequis tranchés par l'équipe",
    "ifuno.candidature.application_refused.v1": "candidature refusée",
    "ifuno.candidature.application_withdrawn.v1": "désistement",
    "ifuno.candidature.application_erased.v1": "données effacées à la demande (candidature)",
    "ifuno.selection.shortlisted.v1": "dossier examiné : présélectionné",
    "ifuno.selection.interview_scheduled.v1": "entretien fixé",
    "ifuno.selection.interview_recorded.v1": "résultat d'entretien saisi",
    "ifuno.selection.admitted.v1": "admis : offre de place",
    "ifuno.selection.waitlisted.v1": "inscrit en liste complémentaire",
    "ifuno.selection.waitlist_rank_changed.v1": "rang en liste complémentaire modifié",
    "ifuno.selection.refused.v1": "refusé par la sélection",
    "ifuno.selection.offer_accepted.v1": "offre acceptée",
    "ifuno.selection.offer_declined.v1": "offre déclinée",
    "ifuno.selection.offer_expired.v1": "offre expirée",
    "ifuno.selection.place_released.v1": "place libérée (désistement)",
    "ifuno.selection.complementary_round_opened.v1": "session complémentaire ouverte au niveau",
    "ifuno.selection.complementary_round_closed.v1": (
        "session complémentaire close au niveau (places toutes tenues)"
    ),
    "ifuno.selection.waitlist_closed.v1": "liste complémentaire close",
    "ifuno.selection.two_year_plan_recorded.v1": "parcours en deux ans enregistré",
    "ifuno.selection.erasure_confirmed.v1": "effacement confirmé par la sélection",
    "ifuno.notification.sent.v1": "message envoyé",
    "ifuno.notification.failed.v1": "message en échec",
    "ifuno.notification.erasure_confirmed.v1": "effacement confirmé par les messages",
    "ifuno.timeline.phase_started.v1": "début d'une phase du calendrier",
    "ifuno.timeline.clock_advanced.v1": "horloge de la campagne avancée",
    "ifuno.timeline.calendar_changed.v1": "calendrier de la campagne modifié",
}
TABLES = {
    "refusal": REFUSALS,
    "status": STATUSES,
    "funnel": FUNNEL,
    "template": TEMPLATES,
    "channel": CHANNELS,
    "outcome": OUTCOMES,
    "document": DOCUMENTS,
    "eligibility": ELIGIBILITY,
    "phase": PHASES,
    "regime": REGIMES,
    "round": ROUNDS,
    "event": EVENTS,
}


def label(kind: str, code: object) -> str:
    """The French label of a code of this kind, else the code itself."""
    if code is None:
        return ""
    return TABLES[kind].get(str(code), str(code))
