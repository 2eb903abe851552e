from services.responses.app import definition
from shared.service import run

run(definition)
