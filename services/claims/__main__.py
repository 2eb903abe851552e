from services.claims.app import definition
from shared.service import run

run(definition)
