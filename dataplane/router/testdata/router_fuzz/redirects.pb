
r!
va.com

/old */new@ûA