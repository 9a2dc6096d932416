
webE
whoamiwhoami.localhost
/exact
a
	
/whoami
whoami*/0
any**.example.comfoo.*

/	
default