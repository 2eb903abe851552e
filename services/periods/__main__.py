from services.periods.app import definition
from shared.service import run

run(definition)
