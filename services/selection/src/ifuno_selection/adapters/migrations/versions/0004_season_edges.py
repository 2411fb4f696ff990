"""The season's edges: late answers, the two-year plan, interview notice, the
complementary round of each level, the announced calendar and the phases' work done.

0001 creates the tables from the live table objects, so a database created after
this change has these columns already: every statement is guarded.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE candidate"
        " ADD COLUMN IF NOT EXISTS late_answer boolean NOT NULL DEFAULT false,"
        " ADD COLUMN IF NOT EXISTS two_year_plan boolean NOT NULL DEFAULT false"
    )
    op.execute(
        "ALTER TABLE interview_slot"
        " ADD COLUMN IF NOT EXISTS notice_days integer,"
        " ADD COLUMN IF NOT EXISTS short_notice boolean NOT NULL DEFAULT false"
    )
    op.execute("ALTER TABLE level_capacity ADD COLUMN IF NOT EXISTS complementary_round varchar(8)")
    op.execute(
        "CREATE TABLE IF NOT EXISTS campaign_phase ("
        " campaign integer NOT NULL, phase varchar(64) NOT NULL,"
        " starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,"
        " PRIMARY KEY (campaign, phase))"
    )
    op.execute(
        "CREATE TABLE IF NOT EXISTS phase_done ("
        " campaign integer NOT NULL, phase varchar(64) NOT NULL,"
        " done_at timestamptz NOT NULL,"
        " PRIMARY KEY (campaign, phase))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS phase_done")
    op.execute("DROP TABLE IF EXISTS campaign_phase")
    op.execute("ALTER TABLE level_capacity DROP COLUMN IF EXISTS complementary_round")
    op.execute(
        "ALTER TABLE interview_slot"
        " DROP COLUMN IF EXISTS notice_days, DROP COLUMN IF EXISTS short_notice"
    )
    op.execute(
        "ALTER TABLE candidate"
        " DROP COLUMN IF EXISTS late_answer, DROP COLUMN IF EXISTS two_year_plan"
    )
